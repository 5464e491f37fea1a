"""Trainer / fit / evaluate / predict: values against hand computations, modes, accumulation, clipping."""
import numpy as np
import pytest

import shendu as sd
from shendu import nn, optim
from shendu.data import DataLoader, TensorDataset
from shendu.train import Callback, Trainer, evaluate, fit, predict


def _sgd(model, lr=0.1):
    return optim.SGD(model.parameters(), lr=lr)


def test_fit_history_contents(blobs, make_mlp):
    X, y = blobs
    model = make_mlp()
    trainer = Trainer(model, "cross_entropy", _sgd(model, 0.3))
    history = trainer.fit((X, y), epochs=4, batch_size=8, validation_split=0.25, seed=0, verbose=0)
    assert list(history.keys()) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert history.epoch == [0, 1, 2, 3] and len(history) == 4
    assert all(len(v) == 4 for v in history.history.values())
    assert history["lr"] == [0.3] * 4
    assert history["loss"][-1] < history["loss"][0]
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"])
    assert trainer.epoch == 4 and trainer.global_step == 4 * 6  # 45 training samples / 8 -> 6 steps
    # The last validation numbers are what evaluate() gives on the held-out last quarter.
    val = trainer.evaluate((X[45:], y[45:]))
    assert val["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    assert val["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_function_and_class_give_the_same_run(blobs, make_mlp, snapshot):
    X, y = blobs
    runs = []
    for use_class in (True, False):
        sd.manual_seed(1)
        model = make_mlp()
        opt = optim.Adam(model.parameters(), lr=0.01)
        if use_class:
            h = Trainer(model, nn.CrossEntropyLoss(), opt).fit((X, y), epochs=2, batch_size=16, seed=5, verbose=0)
        else:
            h = fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=2, batch_size=16, seed=5, verbose=0)
        runs.append((snapshot(model), h.history))
    for k in runs[0][0]:
        np.testing.assert_array_equal(runs[0][0][k], runs[1][0][k])
    assert runs[0][1] == runs[1][1]


def test_seeded_fit_is_reproducible(blobs, make_mlp, snapshot):
    X, y = blobs

    def run(seed):
        sd.manual_seed(42)  # same initial weights every time
        model = make_mlp(0.5)
        h = fit(model, (X, y), loss="cross_entropy", optimizer=_sgd(model), epochs=3, batch_size=8, seed=seed,
                verbose=0)
        return snapshot(model), h.history

    (w1, h1), (w2, h2), (w3, _) = run(7), run(7), run(8)
    assert h1 == h2
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k])
    assert any(not np.array_equal(w1[k], w3[k]) for k in w1)  # shuffling and dropout follow the seed


class _ModeSpy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, sd.is_grad_enabled()))
        return self.fc(x)


def test_train_and_eval_modes(blobs):
    X, y = blobs
    model = _ModeSpy()

    class Phase(Callback):
        def on_epoch_end(self, epoch, logs=None):
            model.seen.append("epoch_end")

    fit(model, (X, y), loss="cross_entropy", optimizer=_sgd(model), epochs=1, batch_size=30,
        validation_data=(X[:10], y[:10]), callbacks=[Phase()], verbose=0)
    # No probe forward before training: 2 training batches, then 1 validation batch.
    assert model.seen == [(True, True)] * 2 + [(False, False), "epoch_end"]
    assert model.training
    model.seen.clear()
    predict(model, X, batch_size=60)
    Trainer(model, "cross_entropy").evaluate((X, y), batch_size=60)
    assert model.seen == [(False, False), (False, False)] and model.training  # one batch each, no probe


def test_evaluate_equals_hand_computed(blobs):
    X, y = blobs
    model = nn.Linear(4, 3)
    W, b = model.weight._data.astype(np.float64), model.bias._data.astype(np.float64)
    logits = X.astype(np.float64) @ W.T + b
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected_loss = -logp[np.arange(len(y)), y].mean()
    expected_acc = (logits.argmax(1) == y).mean()
    out = Trainer(model, "cross_entropy").evaluate((X, y), batch_size=7)  # uneven last batch
    assert out["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert out["accuracy"] == pytest.approx(expected_acc)
    mse = evaluate(model, (X, logits.astype(np.float32) + 1.0), loss="mse", metrics=["mae"], batch_size=13)
    assert mse["loss"] == pytest.approx(1.0, rel=1e-5) and mse["mae"] == pytest.approx(1.0, rel=1e-5)


def test_predict_shapes(blobs, make_mlp):
    X, y = blobs
    model = make_mlp()
    out = predict(model, X, batch_size=7)
    assert isinstance(out, sd.Tensor) and out.shape == (60, 3) and out.dtype == sd.float32
    np.testing.assert_allclose(out._data, model.eval()(sd.tensor(X))._data, rtol=1e-6)
    model.train()
    assert predict(model, (X, y)).shape == (60, 3)
    assert predict(model, TensorDataset(sd.tensor(X))).shape == (60, 3)
    assert predict(model, DataLoader(TensorDataset(sd.tensor(X), sd.tensor(y)), batch_size=11)).shape == (60, 3)

    class TwoHeads(nn.Module):
        def forward(self, x):
            return x[:, :2], x.sum(1)

    a, s = predict(TwoHeads(), X, batch_size=25)
    assert a.shape == (60, 2) and s.shape == (60,)


def test_loss_module_function_and_name_agree(blobs, make_mlp):
    X, y = blobs
    results = []
    for loss in ("cross_entropy", nn.CrossEntropyLoss(), nn.functional.cross_entropy,
                 lambda out, t: nn.functional.cross_entropy(out, t)):
        sd.manual_seed(3)
        model = make_mlp(0.0)
        h = fit(model, (X, y), loss=loss, optimizer=_sgd(model), epochs=2, batch_size=20, shuffle=False, verbose=0)
        results.append(h["loss"])
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-6)


def test_grad_accumulation_matches_one_big_batch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(32, 5)).astype(np.float32)
    Y = rng.normal(size=(32, 2)).astype(np.float32)
    finals = []
    for batch_size, steps in ((32, 1), (16, 2), (8, 4)):
        sd.manual_seed(0)
        model = nn.Linear(5, 2)
        trainer = Trainer(model, "mse", _sgd(model, 0.5), grad_accumulation_steps=steps)
        trainer.fit((X, Y), epochs=3, batch_size=batch_size, shuffle=False, verbose=0)
        assert trainer.global_step == 3
        finals.append((model.weight._data.copy(), model.bias._data.copy()))
    for w, b in finals[1:]:
        np.testing.assert_allclose(w, finals[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, finals[0][1], rtol=1e-5, atol=1e-6)


def test_accumulation_window_shorter_at_epoch_end():
    # 3 batches with k=2: windows [0, 1] and [2]; the lone batch is not divided by 2.
    X = np.ones((3, 1), np.float32)
    Y = np.zeros((3, 1), np.float32)
    model = nn.Linear(1, 1, bias=False)
    model.weight._data[...] = 1.0
    trainer = Trainer(model, "mse", _sgd(model, 0.1), grad_accumulation_steps=2)
    trainer.fit((X, Y), epochs=1, batch_size=1, shuffle=False, verbose=0)
    # grad of (w*1 - 0)^2 is 2w: step 1 uses mean over 2 batches (2.0), step 2 uses one batch (2*0.8).
    assert trainer.global_step == 2
    assert model.weight._data[0, 0] == pytest.approx((1.0 - 0.1 * 2.0) * (1 - 0.2), rel=1e-6)


def test_gradient_clipping_is_applied():
    X = np.full((4, 3), 10.0, np.float32)
    Y = np.full((4, 1), -10.0, np.float32)
    for kwargs, bound in (({"clip_grad_norm": 0.5}, "norm"), ({"clip_grad_value": 0.01}, "value")):
        sd.manual_seed(0)
        model = nn.Linear(3, 1)
        before = np.concatenate([p._data.ravel().copy() for p in model.parameters()])
        trainer = Trainer(model, "mse", _sgd(model, 1.0), **kwargs)
        trainer.fit((X, Y), epochs=1, batch_size=4, verbose=0)
        delta = np.concatenate([p._data.ravel() for p in model.parameters()]) - before
        if bound == "norm":  # lr=1: the update is the clipped gradient, of norm 0.5 (the raw one is huge)
            assert trainer.last_grad_norm > 100
            assert np.linalg.norm(delta) == pytest.approx(0.5, rel=1e-4)
        else:
            np.testing.assert_allclose(np.abs(delta), 0.01, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/NaN inputs on purpose
def test_nonfinite_loss_raises_with_epoch_and_step(blobs, make_mlp, snapshot):
    X, y = blobs
    X = X.copy()
    X[25] = np.nan  # lands in batch 2 (of 10) without shuffling
    model = make_mlp()
    with pytest.raises(FloatingPointError, match="epoch 0 step 2"):
        fit(model, (X, y), loss="cross_entropy", optimizer=_sgd(model), epochs=1, batch_size=10, shuffle=False,
            verbose=0)
    model = make_mlp()
    h = fit(model, (X, y), loss="cross_entropy", optimizer=_sgd(model), epochs=2, batch_size=10, shuffle=False,
            on_nonfinite="skip", verbose=0)
    assert h["skipped_steps"] == [1, 1]
    assert np.isfinite(h["loss"]).all()
    assert all(np.isfinite(w).all() for w in snapshot(model).values())


def test_bad_inputs_fail_before_training(blobs, make_mlp, snapshot):
    X, y = blobs
    model = make_mlp()
    before = snapshot(model)
    opt = _sgd(model)
    cases = [
        ((X, y[:50]), "cross_entropy", "60 inputs and 50 labels"),
        ((X, y.astype(np.float32)), "cross_entropy", "integer class indices"),
        ((X, y + 1), "cross_entropy", r"class indices in \[0, 3\).*\[1, 3\]"),
        ((X, y - 1), nn.NLLLoss(), r"got labels in \[-1, 1\]"),
        ((X, y.astype(np.float32)), "mse", r"outputs of shape \(60, 3\) and targets of shape \(60,\)"),
        ((X, np.zeros((60, 3), np.int64)), "mse", "floating-point targets"),
        ((X, np.full((60, 3), 2.0, np.float32)), "bce_with_logits", r"targets in \[0, 1\]"),
    ]
    for data, loss, message in cases:
        with pytest.raises(ValueError, match=message):
            fit(model, data, loss=loss, optimizer=opt, epochs=1, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="unknown loss 'cross'"):
        fit(model, (X, y), loss="cross", optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="batch_size=8 cannot be used with a DataLoader"):
        fit(model, DataLoader(TensorDataset(sd.tensor(X), sd.tensor(y))), loss="cross_entropy", optimizer=opt,
            batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="'accuracy' needs a classification loss"):
        Trainer(model, "mse", opt, metrics=["accuracy"])
    for k, v in snapshot(model).items():
        np.testing.assert_array_equal(v, before[k])


def test_bad_labels_in_a_dataloader_name_the_step(blobs, make_mlp):
    X, y = blobs
    y = y.copy()
    y[45] = 7
    loader = DataLoader(TensorDataset(sd.tensor(X), sd.tensor(y)), batch_size=20)
    model = make_mlp()
    with pytest.raises(ValueError, match=r"got labels in \[0, 7\] \(at epoch 0, step 2\)"):
        fit(model, loader, loss="cross_entropy", optimizer=_sgd(model), verbose=0)


def test_metrics_by_name_object_and_callable(blobs, make_mlp):
    X, y = blobs
    model = make_mlp()
    from shendu import metrics as M

    def top2(y_true, y_pred):
        return M.top_k_accuracy(y_true, y_pred, k=2, labels=[0, 1, 2])

    trainer = Trainer(model, "cross_entropy", _sgd(model), metrics=["accuracy", top2])
    h = trainer.fit((X, y), epochs=1, batch_size=60, verbose=0)
    assert list(h.keys()) == ["loss", "accuracy", "top2", "lr"]
    assert list(Trainer(model, "cross_entropy", metrics=[M.Accuracy(), "mae"]).metrics) == ["accuracy", "mae"]
    assert list(Trainer(model, "mse").metrics) == []  # no default metric for regression
    out = trainer.evaluate((X, y))
    logits = predict(model, X)._data
    assert out["top2"] == pytest.approx(M.top_k_accuracy(y, logits, k=2, labels=[0, 1, 2]))
    assert out["accuracy"] == pytest.approx((logits.argmax(1) == y).mean())


def test_overridden_train_step(blobs):
    X, y = blobs

    class L2Trainer(Trainer):
        """A Keras-style custom step: loss + an L2 penalty, logged separately."""

        def train_step(self, batch):
            x, t = batch
            out = self.model(x)
            penalty = 0.01 * (self.model.weight ** 2).sum()
            loss = nn.functional.cross_entropy(out, t) + penalty
            loss.backward()
            self.optimizer_step()
            return {"loss": loss.item(), "penalty": penalty.item()}

    model = nn.Linear(4, 3)
    trainer = L2Trainer(model, "cross_entropy", _sgd(model), metrics=())
    h = trainer.fit((X, y), epochs=2, batch_size=20, shuffle=False, verbose=0)
    assert list(h.keys()) == ["loss", "penalty", "lr"] and trainer.global_step == 6
    assert h["penalty"][1] > 0 and h["loss"][1] < h["loss"][0]


def test_fit_equals_a_hand_written_loop(blobs, make_mlp, snapshot):
    X, y = blobs
    sd.manual_seed(4)
    model_a = make_mlp(0.0)
    sd.manual_seed(4)
    model_b = make_mlp(0.0)
    opt_a, opt_b = optim.Adam(model_a.parameters(), lr=0.01), optim.Adam(model_b.parameters(), lr=0.01)
    h = fit(model_a, (X, y), loss="cross_entropy", optimizer=opt_a, epochs=2, batch_size=16, shuffle=False,
            verbose=0)
    losses = []
    for _ in range(2):
        epoch_loss = 0.0
        for i in range(0, 60, 16):
            xb, yb = sd.tensor(X[i:i + 16]), sd.tensor(y[i:i + 16])
            opt_b.zero_grad()
            loss = nn.functional.cross_entropy(model_b(xb), yb)
            loss.backward()
            opt_b.step()
            epoch_loss += loss.item() * len(yb)
        losses.append(epoch_loss / 60)
    for k, v in snapshot(model_a).items():
        np.testing.assert_array_equal(v, snapshot(model_b)[k])
    np.testing.assert_allclose(h["loss"], losses, rtol=1e-12)


def test_validation_data_forms_agree(blobs, make_mlp):
    X, y = blobs
    Xv, yv = sd.tensor(X[:20]), sd.tensor(y[:20])
    results = []
    for val in ((X[:20], y[:20]), TensorDataset(Xv, yv), DataLoader(TensorDataset(Xv, yv), batch_size=6)):
        sd.manual_seed(2)
        model = make_mlp()
        h = fit(model, (X, y), loss="cross_entropy", optimizer=_sgd(model), epochs=2, batch_size=10,
                validation_data=val, seed=0, verbose=0)
        results.append((h["val_loss"], h["val_accuracy"]))
    for r in results[1:]:
        np.testing.assert_allclose(r[0], results[0][0], rtol=1e-6)
        assert r[1] == results[0][1]
