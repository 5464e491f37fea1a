"""nn.utils.rnn.pad_sequence against PyTorch: values and every sequence's gradient."""
import numpy as np
import pytest
import torch

import shendu as sd


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 1, 4)]
    ours = [sd.tensor(a, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = sd.nn.utils.rnn.pad_sequence(ours, batch_first=batch_first, padding_value=-1.0, padding_side=side)
    tout = torch.nn.utils.rnn.pad_sequence(ref, batch_first=batch_first, padding_value=-1.0, padding_side=side)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    out.backward(sd.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    back = sd.nn.utils.rnn.unpad_sequence(out, [3, 1, 4], batch_first=batch_first) if side == "right" else None
    if back is not None:
        for a, b in zip(back, arrays):
            np.testing.assert_array_equal(a.detach().numpy(), b)


def test_pad_sequence_errors():
    with pytest.raises(RuntimeError, match="empty list"):
        sd.nn.utils.rnn.pad_sequence([])
    with pytest.raises(RuntimeError, match=r"sequence 1 has shape \(2, 3\)"):
        sd.nn.utils.rnn.pad_sequence([sd.zeros(2, 2), sd.zeros(2, 3)])
