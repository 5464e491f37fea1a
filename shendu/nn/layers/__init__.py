"""``shendu.nn.layers``: one file per layer family; ``shendu.nn`` re-exports every layer under PyTorch's name."""
