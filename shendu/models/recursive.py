"""``RecursiveNN``: a recursive neural network over binary trees (the textbook's recursive networks).

Word vectors are composed up a parse tree, ``h_parent = tanh(W [h_left; h_right] + b)``, and a
linear classifier reads the root (or every node, for treebanks labelled at each phrase).

A batch of trees is run by tree *level* (a leaf is level 0, a parent is one above its highest
child): every node of a level, across all trees, is composed by one gather of its children's
states and one matmul, so a batch of any number of trees costs one op sequence per level.

Trees are given in one of two forms:
- nested tuples of token ids: a leaf is an ``int``, an inner node a pair ``(left, right)``;
  ``((1, 2), 3)`` is ``[[w1 w2] w3]``. The nodes are numbered in post-order (children before
  their parent, left to right), so ``((1, 2), 3)`` numbers ``1, 2, (1, 2), 3, root``.
- a parent array ``(tokens, parents)`` as in the Stanford Sentiment Treebank: the first
  ``len(tokens)`` nodes are the leaves in sentence order, ``parents[i]`` is node ``i``'s parent
  and ``-1`` marks the root; every inner node has two children, the left one being the one
  whose span starts first. Nodes keep their index as their number.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shendu import creation
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Linear
from shendu.nn.module import Module
from shendu.ops.shape import cat
from shendu.tensor import Tensor

__all__ = ["RecursiveNN", "TreeBatch", "parse_tree"]


@dataclass(frozen=True)
class ParsedTree:
    """One tree as arrays over its nodes (in the tree's own numbering).

    ``token[i]`` is the word id of leaf ``i`` (-1 for inner nodes), ``left[i]``/``right[i]`` its
    children (-1 for leaves) and ``level[i]`` its height above the leaves.
    """

    token: np.ndarray
    left: np.ndarray
    right: np.ndarray
    level: np.ndarray
    root: int


def _is_token(node) -> bool:
    return isinstance(node, (int, np.integer)) and not isinstance(node, bool)


def _parse_nested(tree) -> ParsedTree:
    token, left, right, level = [], [], [], []
    stack = [(tree, False)]
    done: list[int] = []  # numbers of finished subtrees, awaiting their parent
    while stack:
        node, expanded = stack.pop()
        if _is_token(node):
            token.append(int(node)), left.append(-1), right.append(-1), level.append(0)
            done.append(len(token) - 1)
        elif isinstance(node, tuple) and len(node) == 2:
            if expanded:
                r, lft = done.pop(), done.pop()
                token.append(-1), left.append(lft), right.append(r)
                level.append(1 + max(level[lft], level[r]))
                done.append(len(token) - 1)
            else:
                stack.extend([(node, True), (node[1], False), (node[0], False)])
        else:
            what = f"a tuple of {len(node)} items" if isinstance(node, tuple) else f"{type(node).__name__} {node!r}"
            raise ValueError(f"RecursiveNN: a tree node must be a token id (int) or a pair (left, right); "
                             f"found {what} in tree {tree!r}")
    return ParsedTree(np.array(token), np.array(left), np.array(right), np.array(level), done[0])


def _parse_parents(tokens, parents) -> ParsedTree:
    tokens = [int(t) for t in tokens]
    parents = [int(p) for p in parents]
    n_leaves, n = len(tokens), len(parents)
    where = f"tree (tokens={tokens}, parents={parents})"
    if n_leaves == 0:
        raise ValueError(f"RecursiveNN: a tree needs at least one leaf; got {where}")
    if n != 2 * n_leaves - 1:
        raise ValueError(f"RecursiveNN: a binary tree with {n_leaves} leaves has {2 * n_leaves - 1} nodes, but "
                         f"parents has {n} entries; {where}")
    children: list[list[int]] = [[] for _ in range(n)]
    roots = []
    for i, p in enumerate(parents):
        if p == -1:
            roots.append(i)
        elif not 0 <= p < n or p == i:
            raise ValueError(f"RecursiveNN: node {i} has parent {p}, expected -1 (the root) or another node in "
                             f"[0, {n}); {where}")
        else:
            children[p].append(i)
    if len(roots) != 1:
        raise ValueError(f"RecursiveNN: a tree has exactly one root (parent -1), found {len(roots)} "
                         f"({roots}); {where}")
    for i, c in enumerate(children):
        want = 0 if i < n_leaves else 2
        if len(c) != want:
            kind = "leaf" if i < n_leaves else "inner node"
            raise ValueError(f"RecursiveNN: {kind} {i} has {len(c)} children {c}, expected {want} (the first "
                             f"{n_leaves} nodes are the leaves, every other node has two children); {where}")
    # heights and span starts, children before parents (a node counts its pending children)
    level, start = [0] * n, list(range(n_leaves)) + [n] * (n - n_leaves)
    pending = [len(c) for c in children]
    ready, seen = list(range(n_leaves)), 0
    while ready:
        i = ready.pop()
        seen += 1
        p = parents[i]
        if p >= 0:
            level[p] = max(level[p], level[i] + 1)
            start[p] = min(start[p], start[i])
            pending[p] -= 1
            if pending[p] == 0:
                ready.append(p)
    if seen != n:
        raise ValueError(f"RecursiveNN: the parent array has a cycle (nodes not connected to the leaves); {where}")
    token = np.array(tokens + [-1] * (n - n_leaves))
    left, right = np.full(n, -1), np.full(n, -1)
    for i in range(n_leaves, n):
        a, b = children[i]
        left[i], right[i] = (a, b) if start[a] < start[b] else (b, a)
    return ParsedTree(token, left, right, np.array(level), roots[0])


def parse_tree(tree) -> ParsedTree:
    """A tree as nested tuples or ``(tokens, parents)`` (see the module docstring) -> ``ParsedTree``."""
    if isinstance(tree, ParsedTree):
        return tree
    if _is_token(tree) or (isinstance(tree, tuple) and len(tree) == 2 and not _is_parent_form(tree)):
        return _parse_nested(tree)
    if _is_parent_form(tree):
        return _parse_parents(*tree)
    raise ValueError(f"RecursiveNN: a tree must be a token id, a pair (left, right) of subtrees or "
                     f"(tokens, parents) lists; got {tree!r}")


def _is_parent_form(tree) -> bool:
    return (isinstance(tree, (tuple, list)) and len(tree) == 2
            and all(isinstance(part, (list, np.ndarray)) for part in tree))


class TreeBatch:
    """A batch of trees laid out level by level (what ``RecursiveNN`` runs on).

    The *node table* holds every node of every tree, ordered by level, then tree, then node number:
    rows ``[0, n_leaves)`` are the leaves, then each level's nodes follow in one contiguous block.

    Attributes:
        tokens: ``(n_leaves,)`` int64, the word id of each leaf row.
        levels: one ``(n_k, 2)`` int64 array per level above the leaves: the rows of each node's
            left and right child (always in earlier blocks).
        roots: ``(N,)`` int64, the row of each tree's root.
        node_tree: ``(M,)`` int64, the tree each row belongs to.
        rows: per tree, ``(nodes,)`` int64: the row of each of its nodes, by the tree's numbering.
    """

    def __init__(self, trees: Sequence):
        parsed = [parse_tree(t) for t in trees]
        if not parsed:
            raise ValueError("RecursiveNN: received an empty batch of trees")
        sizes = np.array([len(p.token) for p in parsed])
        offsets = np.cumsum(sizes) - sizes
        token = np.concatenate([p.token for p in parsed])
        level = np.concatenate([p.level for p in parsed])
        shift = np.repeat(offsets, sizes)
        left = np.concatenate([p.left for p in parsed]) + shift
        right = np.concatenate([p.right for p in parsed]) + shift
        order = np.lexsort((np.arange(len(token)), level))  # row -> global node
        row = np.empty_like(order)
        row[order] = np.arange(len(order))                  # global node -> row
        counts = np.bincount(level)
        bounds = np.cumsum(counts)
        self.tokens = token[order[:counts[0]]].astype(np.int64)
        inner = order[counts[0]:]
        pairs = np.stack([row[left[inner]], row[right[inner]]], axis=1).astype(np.int64)
        self.levels = [pairs[a - counts[0]:b - counts[0]] for a, b in zip(bounds[:-1], bounds[1:])]
        self.roots = row[offsets + np.array([p.root for p in parsed])].astype(np.int64)
        self.node_tree = np.repeat(np.arange(len(parsed)), sizes)[order].astype(np.int64)
        self.rows = [row[o:o + s].astype(np.int64) for o, s in zip(offsets, sizes)]

    def __len__(self) -> int:
        return len(self.roots)

    @property
    def num_nodes(self) -> int:
        """``M``, the number of nodes of all trees together (the rows of the node table)."""
        return len(self.node_tree)

    def node_values(self, values: Sequence) -> np.ndarray:
        """Per-tree lists of per-node values (e.g. labels, by each tree's node numbering) -> ``(M,)`` by row."""
        if len(values) != len(self.rows):
            raise ValueError(f"TreeBatch.node_values: got values for {len(values)} trees, the batch has "
                             f"{len(self.rows)}")
        for i, (r, v) in enumerate(zip(self.rows, values)):
            if len(v) != len(r):
                raise ValueError(f"TreeBatch.node_values: tree {i} has {len(r)} nodes, got {len(v)} values")
        flat_rows = np.concatenate(self.rows)
        flat = np.concatenate([np.asarray(v) for v in values])
        out = np.empty(self.num_nodes, dtype=flat.dtype)
        out[flat_rows] = flat
        return out


class RecursiveNN(Module):
    r"""A recursive network composing word vectors up binary trees, with a classifier on the nodes.

    .. math::
        h_{leaf} = E[w], \qquad h_{parent} = \tanh(W [h_{left}; h_{right}] + b), \qquad
        \text{logits} = W_s h + b_s

    Args:
        vocab_size: number of word ids (leaves hold ids in ``[0, vocab_size)``).
        hidden_size: size of every node's vector (word vectors included).
        num_classes: number of output classes.
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.

    Shape:
        - Input: a list of ``N`` trees (nested tuples or ``(tokens, parents)``) or a ``TreeBatch``.
        - Output: ``(N, num_classes)`` root logits; with ``all_nodes=True`` ``(M, num_classes)``, one
          row per node of the batch's node table (``TreeBatch`` tells which row is which node).

    Attributes:
        embedding.weight: ``(vocab_size, hidden_size)``, from :math:`\mathcal{N}(0, 1)`.
        compose.weight, compose.bias: ``W`` ``(hidden_size, 2 * hidden_size)`` and ``b``, initialised
            as ``nn.Linear``'s.
        classifier.weight, classifier.bias: ``(num_classes, hidden_size)`` and ``(num_classes,)``.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_classes: int, nonlinearity: str = "tanh"):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RecursiveNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.vocab_size, self.hidden_size, self.num_classes = vocab_size, hidden_size, num_classes
        self.nonlinearity = nonlinearity
        self.embedding = Embedding(vocab_size, hidden_size)
        self.compose = Linear(2 * hidden_size, hidden_size)
        self.classifier = Linear(hidden_size, num_classes)

    def batch(self, trees) -> TreeBatch:
        """Lay out ``trees`` level by level, checking their token ids against the vocabulary."""
        batch = trees if isinstance(trees, TreeBatch) else TreeBatch(trees)
        bad = (batch.tokens < 0) | (batch.tokens >= self.vocab_size)
        if bad.any():
            tree = int(batch.node_tree[np.flatnonzero(bad)[0]])
            raise ValueError(f"RecursiveNN: token id {int(batch.tokens[bad][0])} in tree {tree} is outside the "
                             f"vocabulary [0, {self.vocab_size})")
        return batch

    def encode(self, trees) -> tuple[Tensor, TreeBatch]:
        """Every node's vector: ``(M, hidden_size)`` in node-table order, and the ``TreeBatch``."""
        batch = self.batch(trees)
        xp = self.embedding.weight._xp()
        h = self.embedding(creation.tensor(xp.asarray(batch.tokens)))  # (n_leaves, hidden)
        for pairs in batch.levels:                                      # one gather + one matmul per level
            children = h[xp.asarray(pairs)].reshape(len(pairs), 2 * self.hidden_size)  # (n_k, 2*hidden)
            z = self.compose(children)                                  # (n_k, hidden)
            h = cat([h, z.tanh() if self.nonlinearity == "tanh" else z.relu()], 0)
        return h, batch

    def forward(self, trees, all_nodes: bool = False) -> Tensor:
        h, batch = self.encode(trees)
        if not all_nodes:
            h = h[batch.roots]  # (N, hidden)
        return self.classifier(h)

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, num_classes={self.num_classes}"
                + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"))
