"""Norms and distances: cdist, pdist, pairwise_distance, cosine_similarity, normalize, vector_norm,
nn.CosineSimilarity / nn.PairwiseDistance against PyTorch, including zero distances and ties."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, check_op, spec_tests

import shendu as sd
import shendu.nn as nn
import shendu.nn.functional as F

INF = math.inf
TOL = {"rtol": 1e-5, "atol": 1e-5}


def cd(id, shapes, **kw):
    return case(f"cdist_{id}_{kw}", lambda a, b: sd.cdist(a, b, **kw), lambda a, b: torch.cdist(a, b, **kw), shapes,
                **TOL)


CASES = [
    *[cd("2d", [(4, 3), (5, 3)], p=p) for p in (2.0, 1.0, INF, 3.0, 0.5)],
    cd("batched", [(2, 4, 3), (2, 5, 3)]),
    cd("bcast_batch", [(2, 1, 4, 3), (3, 5, 3)], p=1.0),
    cd("mm_path", [(30, 3), (6, 3)]),  # P > 25: PyTorch's matrix-product form
    cd("mm_forced", [(4, 3), (5, 3)], compute_mode="use_mm_for_euclid_dist"),
    cd("no_mm", [(30, 3), (6, 3)], compute_mode="donot_use_mm_for_euclid_dist"),
    *[case(f"pdist_{p}", lambda x, p=p: F.pdist(x, p), lambda x, p=p: TF.pdist(x, p), [(5, 3)], **TOL)
      for p in (2, 1, INF, 1.5)],
    *[case(f"pairwise_{p}_{kd}", lambda a, b, p=p, kd=kd: F.pairwise_distance(a, b, p, keepdim=kd),
           lambda a, b, p=p, kd=kd: TF.pairwise_distance(a, b, p, keepdim=kd), [(4, 3), (4, 3)], **TOL)
      for p in (2.0, 1.0, INF, 3.0) for kd in (False, True)],
    case("pairwise_1d", lambda a, b: F.pairwise_distance(a, b), lambda a, b: TF.pairwise_distance(a, b), [(3,), (3,)]),
    case("pairwise_bcast", lambda a, b: F.pairwise_distance(a, b), lambda a, b: TF.pairwise_distance(a, b),
         [(4, 3), (3,)]),
    case("pairwise_layer", lambda a, b: nn.PairwiseDistance(p=1.0)(a, b),
         lambda a, b: torch.nn.PairwiseDistance(p=1.0)(a, b), [(4, 3), (4, 3)]),
    *[case(f"cosine_dim{d}", lambda a, b, d=d: F.cosine_similarity(a, b, d),
           lambda a, b, d=d: TF.cosine_similarity(a, b, d), [(3, 4, 2), (3, 4, 2)], **TOL) for d in (0, 1, -1)],
    case("cosine_bcast", lambda a, b: F.cosine_similarity(a, b), lambda a, b: TF.cosine_similarity(a, b),
         [(3, 4), (1, 4)], **TOL),
    case("cosine_1d", lambda a, b: F.cosine_similarity(a, b, 0), lambda a, b: TF.cosine_similarity(a, b, 0),
         [(4,), (4,)], **TOL),
    case("cosine_layer", lambda a, b: nn.CosineSimilarity(dim=0)(a, b),
         lambda a, b: torch.nn.CosineSimilarity(dim=0)(a, b), [(4, 3), (4, 3)], **TOL),
    case("sd.cosine_similarity", lambda a, b: sd.cosine_similarity(a, b), lambda a, b: torch.cosine_similarity(a, b),
         [(2, 3), (2, 3)], **TOL),
    *[case(f"normalize_{p}_{d}", lambda x, p=p, d=d: F.normalize(x, p, d), lambda x, p=p, d=d: TF.normalize(x, p, d),
           [(3, 4)], **TOL) for p in (2.0, 1.0, INF) for d in (1, 0)],
    *[case(f"vector_norm_{o}_{d}", lambda x, o=o, d=d: sd.linalg.vector_norm(x, o, d),
           lambda x, o=o, d=d: torch.linalg.vector_norm(x, o, d), [(3, 4)], **TOL)
      for o, d in [(2, None), (1, 1), (INF, 0), (3, (0, 1)), (0.5, 1)]],
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)

ZERO_ROWS = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], dtype=np.float32)
TIES = np.array([[2.0, -2.0, 1.0], [0.5, 3.0, -3.0]], dtype=np.float32)


@pytest.mark.parametrize("fn,tfn,inputs", [
    # zero vectors / zero distances: PyTorch's gradient there is 0, not nan
    (lambda x: F.normalize(x), lambda x: TF.normalize(x), [ZERO_ROWS]),
    (lambda x: F.normalize(x, 1.0), lambda x: TF.normalize(x, 1.0), [ZERO_ROWS]),
    (lambda x: F.cosine_similarity(x, x + 1), lambda x: TF.cosine_similarity(x, x + 1), [ZERO_ROWS]),
    (lambda x: sd.cdist(x, x), lambda x: torch.cdist(x, x), [ZERO_ROWS]),
    (lambda x: sd.cdist(x, x, p=3.0), lambda x: torch.cdist(x, x, p=3.0), [ZERO_ROWS]),
    (lambda x: sd.cdist(x, x, p=1.0), lambda x: torch.cdist(x, x, p=1.0), [ZERO_ROWS]),
    (lambda x: F.pdist(x), lambda x: TF.pdist(x), [ZERO_ROWS]),
    (lambda x: sd.linalg.vector_norm(x, dim=1), lambda x: torch.linalg.vector_norm(x, dim=1), [ZERO_ROWS]),
    # inf-norm ties: the norm shares the gradient among tied entries, cdist gives each the whole
    (lambda x: sd.linalg.vector_norm(x, INF, 1), lambda x: torch.linalg.vector_norm(x, INF, 1), [TIES]),
    (lambda x: F.pairwise_distance(x, x * 0, INF, eps=0.0), lambda x: TF.pairwise_distance(x, x * 0, INF, eps=0.0),
     [TIES]),
    (lambda x, y: sd.cdist(x, y, p=INF), lambda x, y: torch.cdist(x, y, p=INF), [TIES, TIES * 0]),
])
def test_zero_distance_and_tie_gradients_match_pytorch(fn, tfn, inputs):
    check_op(fn, tfn, inputs, **TOL)


def test_distance_errors():
    with pytest.raises(RuntimeError, match=r"cdist.*\(4, 3\).*\(5, 2\)"):
        sd.cdist(sd.ones(4, 3), sd.ones(5, 2))
    with pytest.raises(RuntimeError, match="cdist.*p must be"):
        sd.cdist(sd.ones(4, 3), sd.ones(5, 3), p=-1)
    with pytest.raises(ValueError, match="cdist.*compute_mode"):
        sd.cdist(sd.ones(4, 3), sd.ones(5, 3), compute_mode="fast")
    with pytest.raises(RuntimeError, match=r"pdist.*2-D.*\(2, 3, 4\)"):
        F.pdist(sd.ones(2, 3, 4))
    with pytest.raises(IndexError, match="cosine_similarity.*dim 2"):
        F.cosine_similarity(sd.ones(3, 4), sd.ones(3, 4), dim=2)
    with pytest.raises(IndexError, match="normalize"):
        F.normalize(sd.ones(3, 4), dim=-3)
