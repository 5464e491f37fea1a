"""RecursiveNN: the level-batched network against node-by-node references (PyTorch and plain shendu
ops), both tree formats, per-node outputs, learning a negation task, and malformed trees."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu.models import RecursiveNN, TreeBatch
from shendu.models.recursive import parse_tree

TREES = [((1, 2), 3), 4, (5, (6, (7, 8))), (((0, 9), (2, 2)), ((3, 4), 5))]


def _post_order(tree):
    """The subtrees of a nested tree in post-order (the node numbering of RecursiveNN)."""
    if isinstance(tree, int):
        return [tree]
    return _post_order(tree[0]) + _post_order(tree[1]) + [tree]


def _torch_states(tree, E, W, b, act, out):
    """Node by node with plain PyTorch ops; appends each node's state to ``out`` in post-order."""
    if isinstance(tree, int):
        h = E[tree]
    else:
        left = _torch_states(tree[0], E, W, b, act, out)
        right = _torch_states(tree[1], E, W, b, act, out)
        h = act(W @ torch.cat([left, right]) + b)
    out.append(h)
    return h


def _sd_states(tree, model, out):
    """The same composition node by node with plain shendu ops."""
    if isinstance(tree, int):
        h = model.embedding.weight[tree]
    else:
        left, right = _sd_states(tree[0], model, out), _sd_states(tree[1], model, out)
        h = (model.compose.weight @ sd.cat([left, right]) + model.compose.bias).tanh()
    out.append(h)
    return h


def _model(nonlinearity="tanh", seed=0):
    sd.manual_seed(seed)
    return RecursiveNN(10, 5, 3, nonlinearity=nonlinearity).double()


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("all_nodes", [False, True])
def test_matches_node_by_node_torch_reference(nonlinearity, all_nodes):
    model = _model(nonlinearity)
    names = ["embedding.weight", "compose.weight", "compose.bias", "classifier.weight", "classifier.bias"]
    ref = {n: torch.tensor(p.detach().numpy(), requires_grad=True) for n, p in model.named_parameters()}
    assert sorted(ref) == sorted(names)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu

    batch = TreeBatch(TREES)
    out = model(batch, all_nodes=all_nodes)
    states = []
    for tree in TREES:
        nodes: list = []
        _torch_states(tree, ref["embedding.weight"], ref["compose.weight"], ref["compose.bias"], act, nodes)
        states.append(nodes if all_nodes else nodes[-1:])
    if all_nodes:  # put the reference's nodes (each tree in post-order) at their node-table rows
        rows = np.concatenate(batch.rows)
        h = torch.stack([s for nodes in states for s in nodes])[np.argsort(rows)]
    else:
        h = torch.stack([nodes[0] for nodes in states])
    tout = h @ ref["classifier.weight"].T + ref["classifier.bias"]
    assert out.shape == tuple(tout.shape) and out.dtype == sd.float64
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)

    g = np.random.default_rng(1).standard_normal(tuple(tout.shape))
    out.backward(sd.tensor(g))
    tout.backward(torch.tensor(g))
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_gradients_match_plain_shendu_ops_node_by_node():
    model, reference = _model(seed=3), _model(seed=3)
    g = np.random.default_rng(2).standard_normal((len(TREES), 3))
    model(TREES).backward(sd.tensor(g))
    roots = []
    for tree in TREES:
        roots.append(_sd_states(tree, reference, [])[None])
    reference.classifier(sd.cat(roots, 0)).backward(sd.tensor(g))
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_one_gather_and_one_matmul_per_level():
    batch = TreeBatch(TREES)
    heights = [parse_tree(t).level.max() for t in TREES]
    assert len(batch.levels) == max(heights)            # levels, not nodes or trees
    assert sum(len(p) for p in batch.levels) == sum(len(_post_order(t)) - (len(_post_order(t)) + 1) // 2
                                                   for t in TREES)
    for k, pairs in enumerate(batch.levels):            # children always come from earlier blocks
        start = len(batch.tokens) + sum(len(p) for p in batch.levels[:k])
        assert pairs.max() < start


def test_parent_arrays_equal_nested_tuples():
    model = _model()
    nested = [((1, 2), 3), (4, (5, 6)), 7]
    # ((1, 2), 3): leaves 0,1,2; node 3 = (0, 1), node 4 = (3, 2) the root
    # (4, (5, 6)): node 3 = (1, 2), node 4 = (0, 3); listing the root first among inner nodes is fine too
    parents = [([1, 2, 3], [3, 3, 4, 4, -1]), ([4, 5, 6], [3, 4, 4, -1, 3]), ([7], [-1])]
    np.testing.assert_allclose(model(parents).detach().numpy(), model(nested).detach().numpy(), rtol=1e-14)
    token = parse_tree(parents[1]).token
    np.testing.assert_array_equal(token, [4, 5, 6, -1, -1])


def test_node_values_align_labels_with_rows():
    trees = [((1, 2), 3), (4, 5)]
    batch = TreeBatch(trees)
    names = [[repr(n) for n in _post_order(t)] for t in trees]
    by_row = batch.node_values(names)
    for tree, nodes in zip(batch.rows, names):
        for row, name in zip(tree, nodes):
            assert by_row[row] == name
    assert [by_row[r] for r in batch.roots] == [repr(t) for t in trees]
    np.testing.assert_array_equal(batch.node_tree, [0 if n in names[0] else 1 for n in by_row])
    leaf_rows = by_row[:len(batch.tokens)]
    np.testing.assert_array_equal(batch.tokens, [int(n) for n in leaf_rows])
    with pytest.raises(ValueError, match="tree 1 has 3 nodes, got 2 values"):
        batch.node_values([[0] * 5, [0, 0]])


NOT = 8


def _value(tree):
    if isinstance(tree, int):
        return 1 if tree < 2 else (-1 if tree < 4 else 0)
    if tree[0] == NOT:
        return -_value(tree[1])
    return _value(tree[0]) + _value(tree[1])


def _negation_data(n, rng):
    """Words 0-1 positive, 2-3 negative, 4-7 neutral; (NOT, subtree) flips the subtree's sentiment."""
    trees, labels = [], []
    while len(trees) < n:
        nodes = [int(w) for w in rng.integers(0, 8, size=int(rng.integers(2, 6)))]
        while len(nodes) > 1:  # a random bracketing
            i = int(rng.integers(len(nodes) - 1))
            nodes[i:i + 2] = [(nodes[i], nodes[i + 1])]
        tree = (NOT, nodes[0]) if rng.random() < 0.5 else nodes[0]
        if _value(tree) != 0:
            trees.append(tree)
            labels.append(int(_value(tree) > 0))
    return trees, np.array(labels)


def test_learns_sentiment_with_negation():
    rng = np.random.default_rng(0)
    sd.manual_seed(0)
    train, y_train = _negation_data(512, rng)
    test, y_test = _negation_data(300, rng)
    model = RecursiveNN(9, 16, 2)
    opt = sd.optim.Adam(model.parameters(), lr=0.01)
    train_batch, test_batch = TreeBatch(train), TreeBatch(test)
    for _ in range(120):
        loss = sd.nn.functional.cross_entropy(model(train_batch), sd.tensor(y_train))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with sd.no_grad():
        accuracy = (model(test_batch).argmax(1).numpy() == y_test).mean()
    assert accuracy >= 0.95


@pytest.mark.parametrize("tree,match", [
    ((1, 2, 3), r"a tree must be a token id, a pair .*got \(1, 2, 3\)"),
    ((0, (1, 2, 3)), r"token id \(int\) or a pair.*a tuple of 3 items in tree \(0, \(1, 2, 3\)\)"),
    ((1, ()), r"a tuple of 0 items"),
    ((1, "a"), r"found str 'a'"),
    (1.5, r"token id, a pair \(left, right\) of subtrees or \(tokens, parents\)"),
    (([1, 2], [2, 2, 5]), r"node 2 has parent 5, expected -1 .* \[0, 3\)"),
    (([1, 2], [2, -1, -1]), r"exactly one root .*found 2"),
    (([1, 2, 3], [3, 3, 4, 4]), r"3 leaves has 5 nodes, but parents has 4"),
    (([1, 2], [1, 2, -1]), r"leaf 1 has 1 children \[0\], expected 0"),
    (([1, 2, 3], [3, 3, 3, 4, -1]), r"inner node 3 has 3 children"),
    (([1, 2, 3], [4, 4, 3, 3, -1]), r"node 3 has parent 3"),
    (([1, 2, 3], [3, 4, -1, 4, 3]), r"cycle"),  # 3 and 4 are each other's parent; leaf 2 is the root
    (([], []), r"at least one leaf"),
])
def test_malformed_trees_raise(tree, match):
    with pytest.raises(ValueError, match=match):
        TreeBatch([tree])


def test_vocabulary_and_setting_errors():
    model = RecursiveNN(5, 4, 2)
    with pytest.raises(ValueError, match=r"token id 7 in tree 1 is outside the vocabulary \[0, 5\)"):
        model([(1, 2), (3, 7)])
    with pytest.raises(ValueError, match="empty batch"):
        model([])
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        RecursiveNN(5, 4, 2, nonlinearity="sigmoid")
