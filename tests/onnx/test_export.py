"""shendu.onnx.export: the exported file passes onnx.checker and onnxruntime (CPU) reproduces shendu's output.

Each model is exported by tracing one forward, then run by onnxruntime and compared with shendu's own
forward (1e-4). Models exported with dynamic axes are run at other batch and sequence sizes than the
traced ones, so a size baked into the graph fails the comparison (or onnxruntime's shape checks).
"""
import io
import math

import numpy as np
import pytest

import shendu as sd
import shendu.nn as nn
import shendu.nn.functional as F
from shendu.models import GPT, GPTConfig

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _outputs(out) -> list:
    if isinstance(out, sd.Tensor):
        return [out.numpy()]
    if out is None:
        return []
    return [a for o in out for a in _outputs(o)]


def export(model, args, **kwargs):
    """Export to bytes; check the model; return (ModelProto, onnxruntime session)."""
    f = io.BytesIO()
    sd.onnx.export(model, args, f, **kwargs)
    proto = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return proto, ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])


def check(model, sess, *args, atol=1e-4):
    """onnxruntime on ``args`` equals shendu's eval-mode forward on them."""
    feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
    got = sess.run(None, feeds)
    model.eval()
    with sd.no_grad():
        want = _outputs(model(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-4)
    return got


def test_mlp_values_names_and_initializers():
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 16), nn.Tanh(),
                          nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 16), nn.GELU("tanh"), nn.Linear(16, 16),
                          nn.Sigmoid(), nn.Linear(16, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.ELU(),
                          nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 4), nn.LogSoftmax(dim=-1))
    model.train()
    x = sd.randn(3, 5)
    proto, sess = export(model, (x,), input_names=["features"], output_names=["log_probs"],
                         dynamic_axes={"features": {0: "batch"}, "log_probs": {0: "batch"}})
    assert model.training  # the mode is restored after the export
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["log_probs"]
    assert proto.opset_import[0].version == 17
    assert sorted(i.name for i in proto.graph.initializer if not i.name.startswith("/")) == \
        sorted(model.state_dict())
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not any(n.op_type == "Dropout" for n in proto.graph.node)
    check(model, sess, x)
    check(model, sess, sd.randn(7, 5))  # another batch size


def test_softmax_and_file_path(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6), nn.Softplus(beta=2.0), nn.Linear(6, 3), nn.Softmax(dim=1))
    path = tmp_path / "mlp.onnx"
    assert sd.onnx.export(model, sd.randn(2, 4), str(path)) is not None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx.checker.check_model(onnx.load(str(path)))
    assert [i.name for i in sess.get_inputs()] == ["input"]  # the forward's parameter name
    x = sd.randn(2, 4)
    probs = check(model, sess, x)[0]
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.pool_ceil = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(2, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))        # (N, 8, 8, 8)
        x = F.relu(self.bn2(self.conv2(x)))                     # (N, 8, 4, 4)
        x = self.avg(self.pool_ceil(x))                          # (N, 8, 2, 2)
        return self.head(x).view(x.shape[0], -1)                # (N, 5)


def test_cnn_conv_batchnorm_pooling_dynamic_batch():
    model = _CNN()
    model.train()
    for _ in range(3):  # non-trivial running statistics
        model(sd.randn(4, 3, 16, 16) * 2 + 1)
    x = sd.randn(2, 3, 16, 16)
    proto, sess = export(model, (x,), dynamic_axes={"x": [0]})
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "BatchNormalization", "MaxPool", "AveragePool", "Gemm"} <= ops
    check(model, sess, x)
    check(model, sess, sd.randn(5, 3, 16, 16))


def test_conv_transpose_and_upsample():
    model = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
                          nn.Upsample(scale_factor=2, mode="bilinear"), nn.Upsample(scale_factor=2))
    _, sess = export(model, (sd.randn(2, 4, 5, 5),))
    check(model, sess, sd.randn(2, 4, 5, 5))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_multi_layer_batch_first_dynamic(kind):
    rnn = getattr(nn, kind)(4, 6, num_layers=2, batch_first=True, bidirectional=kind == "GRU")
    x = sd.randn(2, 5, 4)
    proto, sess = export(rnn, (x,), input_names=["x"], dynamic_axes={"x": {0: "N", 1: "T"}})
    assert kind in {n.op_type for n in proto.graph.node}
    check(rnn, sess, x)
    check(rnn, sess, sd.randn(3, 8, 4))  # other batch and length


def test_lstm_with_initial_state():
    lstm = nn.LSTM(3, 4, num_layers=2)
    x, h0, c0 = sd.randn(6, 2, 3), sd.randn(2, 2, 4), sd.randn(2, 2, 4)

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x, h0, c0):
            return self.lstm(x, (h0, c0))

    model = WithState()
    _, sess = export(model, (x, h0, c0), dynamic_axes={"x": {0: "T", 1: "N"}, "h0": {1: "N"}, "c0": {1: "N"}})
    check(model, sess, x, h0, c0)
    check(model, sess, sd.randn(4, 3, 3), sd.randn(2, 3, 4), sd.randn(2, 3, 4))


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer_dynamic(norm_first, activation):
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first)
    x = sd.randn(2, 5, 16)
    proto, sess = export(layer, (x,), dynamic_axes={"src": {0: "N", 1: "T"}})
    assert "LayerNormalization" in {n.op_type for n in proto.graph.node}
    check(layer, sess, x)
    check(layer, sess, sd.randn(3, 7, 16))


def test_transformer_decoder_layer_causal_dynamic():
    layer = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

    class Causal(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, tgt, memory):
            return self.layer(tgt, memory, tgt_is_causal=True)

    model = Causal()
    tgt, mem = sd.randn(2, 4, 16), sd.randn(2, 6, 16)
    _, sess = export(model, (tgt, mem), dynamic_axes={"tgt": {0: "N", 1: "T"}, "memory": {0: "N", 1: "S"}})
    check(model, sess, tgt, mem)
    check(model, sess, sd.randn(3, 7, 16), sd.randn(3, 5, 16))


def test_gpt_dynamic_batch_and_sequence():
    model = GPT(GPTConfig(block_size=16, vocab_size=23, n_layer=2, n_head=2, n_embd=16))
    idx = sd.randint(0, 23, (2, 5))
    proto, sess = export(model, (idx,), input_names=["idx"], output_names=["logits"],
                         dynamic_axes={"idx": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}})
    assert [d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim[:2]] == ["batch", "seq"]
    names = {i.name for i in proto.graph.initializer}
    assert "transformer.wte.weight" in names and "lm_head.weight" not in names  # tied: stored once
    for shape in [(2, 5), (1, 3), (3, 11), (2, 16)]:
        check(model, sess, sd.randint(0, 23, shape))


def test_bert_with_a_padding_mask_at_other_batch_and_sequence_sizes():
    from shendu.models import BertConfig, BertModel
    sd.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, max_position_embeddings=64)).eval()
    rng = np.random.default_rng(0)

    def inputs(B, T):
        mask = np.ones((B, T), dtype=np.int64)
        mask[0, T - 3:] = 0                                  # the first row is padded
        return sd.tensor(rng.integers(0, 50, (B, T))), sd.tensor(mask)

    axes = {0: "batch", 1: "seq"}
    proto, sess = export(model, inputs(2, 9), input_names=["input_ids", "attention_mask"],
                         output_names=["last_hidden_state", "pooler_output"],
                         dynamic_axes={"input_ids": axes, "attention_mask": axes})
    for B, T in ((2, 9), (3, 13), (1, 4)):
        ids, mask = inputs(B, T)
        with sd.no_grad():
            ref = model(ids, attention_mask=mask)
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        np.testing.assert_allclose(got[0], ref.last_hidden_state.numpy(), atol=1e-5)
        np.testing.assert_allclose(got[1], ref.pooler_output.numpy(), atol=1e-5)


@pytest.mark.parametrize("opset", [17, 18])
def test_gpt_variants_rope_rmsnorm_swiglu(opset):
    model = GPT(GPTConfig(block_size=12, vocab_size=17, n_layer=1, n_head=4, n_kv_head=2, n_embd=16, pos="rope",
                          norm="rmsnorm", mlp="swiglu", bias=False))
    idx = sd.randint(0, 17, (2, 4))
    proto, sess = export(model, (idx,), dynamic_axes={"idx": {0: "B", 1: "T"}}, opset_version=opset)
    assert proto.opset_import[0].version == opset
    check(model, sess, idx)
    check(model, sess, sd.randint(0, 17, (3, 9)))


def test_export_params_false_makes_weights_inputs():
    model = nn.Linear(3, 2)
    proto, sess = export(model, (sd.randn(1, 3),), export_params=False)
    assert [i.name for i in proto.graph.input] == ["input", "weight", "bias"]
    assert not proto.graph.initializer
    x = sd.randn(1, 3)
    got = sess.run(None, {"input": x.numpy(), "weight": model.weight.detach().numpy(),
                              "bias": model.bias.detach().numpy()})[0]
    np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-5)
    proto, sess = export(model, (x,), keep_initializers_as_inputs=True)
    assert [i.name for i in proto.graph.input] == ["input", "weight", "bias"]
    assert sorted(i.name for i in proto.graph.initializer) == ["bias", "weight"]
    check(model, sess, x)


def test_in_place_ops_and_custom_function():
    class Double(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, grad):
            return grad * 2.0

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            y += 1.0
            y.mul_(x)
            return Double.apply(y).clamp(min=-0.5) ** 2, x[:, 1:3].sum(-1, keepdim=True).exp()

    model = Model()
    _, sess = export(model, (sd.randn(3, 4),), dynamic_axes={"x": [0]})
    check(model, sess, sd.randn(5, 4))


def test_in_place_write_through_a_view_is_an_error():
    class ViewWrite(nn.Module):
        def forward(self, x):
            y = x * 2.0
            y[:, :2].mul_(3.0)  # changes y through a view
            return y

    with pytest.raises(sd.onnx.OnnxExporterError, match="changed in place through a view"):
        sd.onnx.export(ViewWrite(), (sd.randn(2, 4),), io.BytesIO())


def test_is_in_onnx_export():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(sd.onnx.is_in_onnx_export())
            return x * 2

    assert sd.onnx.is_in_onnx_export() is False
    export(Probe(), (sd.randn(2),))
    assert seen and all(seen)
    assert sd.onnx.is_in_onnx_export() is False


def test_unsupported_op_names_the_op_and_caller():
    class Cumulative(nn.Module):
        def forward(self, x):
            return sd.cumprod(x, dim=1)

    from shendu.autograd.function import Function
    apply, iadd = Function.__dict__["apply"], sd.Tensor.__iadd__
    with pytest.raises(sd.onnx.OnnxExporterError, match=r"CumProd .*test_export.*no ONNX mapping.*supported"):
        sd.onnx.export(Cumulative(), (sd.randn(2, 3),), io.BytesIO())
    assert sd.onnx.is_in_onnx_export() is False
    assert Function.__dict__["apply"] is apply and sd.Tensor.__iadd__ is iadd  # the tracer's swaps are undone


def test_constant_computed_from_input_values_is_an_error():
    class TopK(nn.Module):
        def forward(self, x):
            return x.topk(2, dim=1).values * 2.0  # values computed outside any op: frozen by a trace

    with pytest.raises(sd.onnx.OnnxExporterError, match="changes with the input values"):
        sd.onnx.export(TopK(), (sd.randn(2, 5),), io.BytesIO())


def test_size_dependent_branch_is_an_error():
    class Branch(nn.Module):
        def forward(self, x):
            return x.exp() if x.shape[0] > 2 else x.sin()

    with pytest.raises(sd.onnx.OnnxExporterError, match="different ops at other sizes"):
        sd.onnx.export(Branch(), (sd.randn(2, 3),), io.BytesIO(), dynamic_axes={"x": [0]})


def test_gpt_traced_at_one_token_is_an_error():
    model = GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(sd.onnx.OnnxExporterError, match=r"different ops .*called from shendu\.models\.gpt"):
        # at T = 1 the attention needs no causal mask: the traces differ
        sd.onnx.export(model, (sd.randint(0, 11, (2, 1)),), io.BytesIO(), dynamic_axes={"idx": [0, 1]})


def test_training_mode_and_old_opset_rejected():
    with pytest.raises(sd.onnx.OnnxExporterError, match="TRAINING"):
        sd.onnx.export(nn.Linear(2, 2), (sd.randn(1, 2),), None, training=sd.onnx.TrainingMode.TRAINING)
    with pytest.raises(sd.onnx.OnnxExporterError, match="opset_version 13"):
        sd.onnx.export(nn.Linear(2, 2), (sd.randn(1, 2),), None, opset_version=13)


@pytest.mark.parametrize("opset", [17, 18])
def test_pointwise_and_indexing_ops(opset):
    class Ops(nn.Module):
        def forward(self, x, idx):
            a = sd.where(x > 0, x.abs().sqrt().log1p(), x.abs().rsqrt()) - x.floor() / 3
            b = sd.cat([a[:, :2], a[:, -2:].flip(1)], dim=1).permute(1, 0).reshape(-1, 2)
            c = sd.atan2(x, x.exp()) + F.hardtanh(x) + F.normalize(x, dim=1) + x.cumsum(1) + x.amax(1, keepdim=True)
            d = x.index_select(1, idx) if hasattr(x, "index_select") else x
            e = sd.einsum("ij,kj->ik", x, x).softmax(-1)
            return b, c * math.pi, d.mean(0), e, x[None, ..., 1], x.unsqueeze(-1).expand(-1, -1, 3)

    x, idx = sd.randn(3, 4), sd.tensor([3, 0, 0])
    model = Ops()
    _, sess = export(model, (x, idx), opset_version=opset)
    check(model, sess, x, idx)


def test_reductions_conv1d_embedding():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 6, padding_idx=0)
            self.conv = nn.Conv1d(6, 4, 3, padding=1)
            self.norm = nn.GroupNorm(2, 4) if hasattr(nn, "GroupNorm") else nn.Identity()

        def forward(self, idx):
            h = self.conv(self.emb(idx).transpose(1, 2))        # (N, 4, T)
            return (h.sum(-1), h.mean((0, 2)), h.var(-1), h.amin(1), h.logsumexp(-1), h.prod(-1),
                    h.argmax(-1), h.std(1, keepdim=True), h.max(-1).values)

    model = Model()
    idx = sd.tensor([[0, 3, 5, 10, 2], [1, 0, 0, 7, 7]])
    _, sess = export(model, (idx,), dynamic_axes={"idx": {0: "N", 1: "T"}})
    check(model, sess, idx)
    check(model, sess, sd.tensor([[4, 4, 0], [9, 8, 1], [0, 0, 0]]))


def test_fully_convolutional_dynamic_image_size():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2))
    x = sd.randn(2, 3, 16, 12)
    _, sess = export(model, (x,), input_names=["image"], dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}})
    check(model, sess, x)
    check(model, sess, sd.randn(1, 3, 20, 26))


def test_indexed_writes():
    class Writes(nn.Module):
        def forward(self, x):
            y = x * 1.0
            y[:, 0] = 0.0
            y[1] = x[0] * 2
            y[..., -1] += 5.0
            return y.index_put((sd.tensor([0, 2]),), sd.ones(4), accumulate=True)

    model = Writes()
    x = sd.randn(3, 4)
    _, sess = export(model, (x,))
    check(model, sess, x)


def test_keyword_arguments_and_rnn():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 5, num_layers=2, nonlinearity="relu", bidirectional=True)

        def forward(self, x, scale=1.0):
            out, h = self.rnn(x)
            return out * scale, h

    model = Scaled()
    x = sd.randn(4, 2, 3)
    proto, sess = export(model, (x, {"scale": 3.0}), dynamic_axes={"x": [0, 1]})
    assert [i.name for i in proto.graph.input] == ["x"]
    got = sess.run(None, {"x": x.numpy()})
    model.eval()
    with sd.no_grad():
        want = model(x, scale=3.0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5)
    x2 = sd.randn(6, 3, 3)
    with sd.no_grad():
        np.testing.assert_allclose(sess.run(None, {"x": x2.numpy()})[0], model(x2, scale=3.0)[0].numpy(), atol=1e-5)
