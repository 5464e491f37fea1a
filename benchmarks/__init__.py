"""Side-by-side benchmarks of shendu and PyTorch (see ../shared/BENCHMARKS.md and docs/benchmarks.md)."""
