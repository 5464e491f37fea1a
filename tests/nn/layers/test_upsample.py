"""Upsample layers: PyTorch parity (values and input gradients, which sum into the sources) and repr."""
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

from shendu import nn

CASES = [
    ("Upsample", dict(scale_factor=2), (2, 3, 4, 5)),
    ("Upsample", dict(size=(7, 3)), (2, 3, 4, 5)),
    ("Upsample", dict(scale_factor=(1.5, 2.5), mode="bilinear"), (2, 3, 4, 5)),
    ("Upsample", dict(size=9, mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    ("Upsample", dict(scale_factor=3, mode="linear"), (2, 3, 5)),
    ("UpsamplingNearest2d", dict(scale_factor=2), (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", dict(size=(6, 8)), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("name,kw,shape", CASES, ids=[f"{n}{i}" for i, (n, _, _) in enumerate(CASES)])
def test_parity_and_repr(name, kw, shape):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    check_parity(ours, theirs, shape, atol=1e-5)
    assert repr(ours) == repr(theirs)


def test_contract_and_gradcheck():
    layer = run_layer_test(nn.Upsample, {"scale_factor": 2, "mode": "nearest"}, input_shape=(2, 3, 3, 4),
                           expected_output_shape=(2, 3, 6, 8), expected_num_params=0)
    check_layer_grad(layer, (1, 2, 3, 3))
    check_layer_grad(nn.Upsample(size=(4, 5), mode="bilinear"), (1, 2, 3, 3))
