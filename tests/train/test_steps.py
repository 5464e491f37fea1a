"""train_step / test_step / predict_step called on their own, the state they own, and the loss's declared kind."""
import numpy as np
import pytest

import shendu as sd
from shendu import metrics as M
from shendu import nn, optim
from shendu.nn import functional as F
from shendu.train import EpochMetrics, GradientAccumulation, Trainer


class DeclaredCE(nn.Module):
    """A user's loss that declares its targets, as the library's loss Modules do."""

    target_kind = "class_indices"
    ignore_index = -1

    def forward(self, outputs, targets):
        return F.cross_entropy(outputs, targets, ignore_index=-1)


def _linear(seed=0, n_in=4, n_out=3):
    sd.manual_seed(seed)
    return nn.Linear(n_in, n_out)


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)


def _mse_and_grads(model, x, y):
    W, b = model.weight._data.astype(np.float64), model.bias._data.astype(np.float64)
    r = x.astype(np.float64) @ W.T + b - y
    n = r.size
    return (r ** 2).mean(), 2 * r.T @ x / n, 2 * r.sum(0) / n


def test_train_step_alone_is_one_sgd_step():
    x, y = _data()
    model = _linear()
    W0, b0 = model.weight._data.copy(), model.bias._data.copy()
    loss, gW, gb = _mse_and_grads(model, x, y)
    trainer = Trainer(model, "mse", optim.SGD(model.parameters(), lr=0.1))
    logs = trainer.train_step((sd.tensor(x), sd.tensor(y)))
    assert logs == {"loss": pytest.approx(loss, rel=1e-5)}
    assert trainer.last_step_applied and trainer.global_step == 1
    np.testing.assert_allclose(model.weight._data, W0 - 0.1 * gW, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.bias._data, b0 - 0.1 * gb, rtol=1e-5, atol=1e-7)
    assert all(p.grad is None or not p.grad._data.any() for p in model.parameters())
    assert trainer.train_metrics.loss.compute() == pytest.approx(loss, rel=1e-5)
    assert trainer.eval_metrics.loss.weight == 0  # evaluation state untouched


def test_train_step_accumulates_across_calls():
    x, y = _data(8)
    big = _linear()
    Trainer(big, "mse", optim.SGD(big.parameters(), lr=0.5)).train_step((sd.tensor(x), sd.tensor(y)))
    model = _linear()
    W0 = model.weight._data.copy()
    trainer = Trainer(model, "mse", optim.SGD(model.parameters(), lr=0.5), grad_accumulation_steps=2)
    assert trainer.accumulation.window == 2 and not trainer.accumulation.ends_window
    trainer.train_step((sd.tensor(x[:4]), sd.tensor(y[:4])))
    assert not trainer.last_step_applied and trainer.global_step == 0
    np.testing.assert_array_equal(model.weight._data, W0)  # gradient kept, no update yet
    _, gW_half, _ = _mse_and_grads(model, x[:4], y[:4])
    np.testing.assert_allclose(model.weight.grad._data, gW_half / 2, rtol=1e-5, atol=1e-7)
    trainer.train_step((sd.tensor(x[4:]), sd.tensor(y[4:])))
    assert trainer.last_step_applied and trainer.global_step == 1
    np.testing.assert_allclose(model.weight._data, big.weight._data, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.bias._data, big.bias._data, rtol=1e-5, atol=1e-7)


def test_gradient_accumulation_windows():
    acc = GradientAccumulation(3)
    acc.reset(num_batches=7)  # windows [0, 1, 2] [3, 4, 5] [6]
    seen = []
    for _ in range(7):
        seen.append((acc.window, acc.ends_window))
        acc.advance()
    assert seen == [(3, False), (3, False), (3, True)] * 2 + [(1, True)]
    acc.reset()  # unknown length: full windows; the loop marks the last batch final
    acc.advance()
    acc.final = True
    assert acc.window == 3 and acc.ends_window
    acc.advance()
    assert not acc.final
    with pytest.raises(ValueError, match="grad_accumulation_steps must be an integer >= 1, got 0"):
        GradientAccumulation(0)


def test_test_step_alone_updates_only_eval_metrics(blobs):
    X, y = blobs
    model = _linear()
    trainer = Trainer(model, DeclaredCE(), optim.SGD(model.parameters(), lr=0.1))
    W0 = model.weight._data.copy()
    logits = X @ model.weight._data.T + model.bias._data
    with sd.no_grad():
        logs = trainer.test_step((sd.tensor(X[:30]), sd.tensor(y[:30])))
        trainer.test_step((sd.tensor(X[30:]), sd.tensor(y[30:])))
    expected = F.cross_entropy(sd.tensor(logits[:30]), sd.tensor(y[:30])).item()
    assert logs == {"loss": pytest.approx(expected, rel=1e-6)}
    result = trainer.eval_metrics.result()
    assert result["accuracy"] == pytest.approx((logits.argmax(1) == y).mean())
    assert result["loss"] == pytest.approx(F.cross_entropy(sd.tensor(logits), sd.tensor(y)).item(), rel=1e-5)
    np.testing.assert_array_equal(model.weight._data, W0)
    assert trainer.train_metrics.loss.weight == 0 and trainer.global_step == 0


def test_predict_step_alone_ignores_targets(blobs):
    X, y = blobs
    model = _linear()
    out = Trainer(model).predict_step((sd.tensor(X), sd.tensor(y)))
    np.testing.assert_allclose(out._data, X @ model.weight._data.T + model.bias._data, rtol=1e-6)


def test_metric_state_reset_points(blobs):
    X, y = blobs
    model = _linear()
    trainer = Trainer(model, DeclaredCE(), optim.SGD(model.parameters(), lr=0.1))
    h = trainer.fit((X, y), epochs=2, batch_size=20, shuffle=False, verbose=0)
    # fit resets the training state at each epoch's start: what is left is the last epoch's.
    assert trainer.train_metrics.result() == {"loss": h["loss"][-1], "accuracy": h["accuracy"][-1]}
    first = trainer.evaluate((X, y))
    assert trainer.evaluate((X, y)) == first  # evaluate resets the evaluation state: no carry-over
    assert trainer.eval_metrics.metrics["accuracy"] is not trainer.metrics["accuracy"]
    assert trainer.train_metrics.metrics is trainer.metrics


def test_epoch_metrics_weights_the_loss_by_samples():
    state = EpochMetrics({"mae": M.MeanAbsoluteError()})
    state.update(1.0, sd.tensor([1.0, 2.0]), sd.tensor([0.0, 0.0]), 2)
    state.update(4.0, sd.tensor([3.0]), sd.tensor([0.0]), 1)
    assert state.result() == {"loss": pytest.approx(2.0), "mae": pytest.approx(2.0)}
    assert state.result(with_loss=False) == {"mae": pytest.approx(2.0)}
    state.reset()
    assert np.isnan(state.result()["loss"])


def test_declared_class_indices_give_accuracy_and_checks(blobs):
    X, y = blobs
    model = _linear()
    trainer = Trainer(model, DeclaredCE(), optim.SGD(model.parameters(), lr=0.1))
    assert list(trainer.metrics) == ["accuracy"] and trainer.loss_spec.ignore_index == -1
    y_ignored = y.copy()
    y_ignored[:30] = -1  # ignored labels count neither in the loss nor in the accuracy
    out = trainer.evaluate((X, y_ignored))
    logits = X @ model.weight._data.T + model.bias._data
    assert out["accuracy"] == pytest.approx((logits[30:].argmax(1) == y[30:]).mean())
    with pytest.raises(ValueError, match=r"DeclaredCE: labels must be class indices >= 0 or ignore_index=-1, "
                                         r"got labels in \[-2, 2\]"):
        trainer.evaluate((X, np.where(y == 0, -2, y)))


def test_class_accuracy_over_extra_dims_and_probability_targets():
    # outputs (N, C, T) against labels (N, T): argmax over dim 1, every position counts once.
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 5, 6)).astype(np.float32)
    labels = rng.integers(0, 5, size=(4, 6))

    class Identity(nn.Module):
        def forward(self, x):
            return x

    out = Trainer(Identity(), nn.CrossEntropyLoss(), metrics=["accuracy"]).evaluate((logits, labels))
    assert out["accuracy"] == pytest.approx((logits.argmax(1) == labels).mean())
    probs = np.eye(5, dtype=np.float32)[labels].transpose(0, 2, 1)  # (N, C, T) one-hot
    out = Trainer(Identity(), nn.CrossEntropyLoss(), metrics=["accuracy"]).evaluate((logits, probs))
    assert out["accuracy"] == pytest.approx((logits.argmax(1) == labels).mean())


@pytest.mark.parametrize("loss, outputs, targets", [
    (nn.BCEWithLogitsLoss(), [-0.5, 0.2, 0.7, 2.0], [0, 1, 1, 1]),  # logits: threshold 0 (0.5 would give 0.75)
    (nn.BCELoss(), [0.1, 0.3, 0.6, 0.9], [0, 0, 1, 1]),  # probabilities: threshold 0.5 (0 would give 0.5)
])
def test_binary_accuracy_threshold_follows_the_loss(loss, outputs, targets):
    class Identity(nn.Module):
        def forward(self, x):
            return x

    data = (np.array(outputs, np.float32)[:, None], np.array(targets, np.float32)[:, None])
    assert Trainer(Identity(), loss, metrics=["accuracy"]).evaluate(data)["accuracy"] == 1.0


def test_plain_callable_is_taken_as_it_is(blobs):
    X, y = blobs
    model = _linear()
    trainer = Trainer(model, lambda out, t: F.cross_entropy(out, t), optim.SGD(model.parameters(), lr=0.1))
    assert trainer.loss_spec.target_kind is None and trainer.metrics == {}
    assert list(Trainer(model, lambda o, t: F.cross_entropy(o, t), metrics=["accuracy"]).metrics) == ["accuracy"]


def test_bad_target_kind_and_nonscalar_loss_are_named(blobs):
    X, y = blobs

    class Odd(nn.Module):
        target_kind = "labels"

        def forward(self, out, t):
            return F.cross_entropy(out, t)

    with pytest.raises(ValueError, match="Odd declares target_kind='labels'; expected one of"):
        Trainer(_linear(), Odd())
    model = _linear()
    trainer = Trainer(model, nn.CrossEntropyLoss(reduction="none"), optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"returned a loss of shape \(20,\); the trainer needs a scalar"):
        trainer.fit((X, y), batch_size=20, verbose=0)


def test_every_library_loss_resolves_with_its_declared_kind():
    import inspect

    from shendu.nn import losses
    from shendu.train.compile_utils import TARGET_KINDS, resolve_loss

    classes = [c for _, c in inspect.getmembers(losses, inspect.isclass)
               if issubclass(c, nn.Module) and c.__module__ == losses.__name__ and not c.__name__.startswith("_")]
    assert len(classes) >= 10
    for cls in classes:
        kw = {"margin": 1.0} if cls.__name__ == "TripletMarginWithDistanceLoss" else {}
        try:
            loss = cls(**kw)
        except TypeError:  # a loss whose constructor needs arguments
            continue
        assert cls.target_kind in TARGET_KINDS, cls
        assert resolve_loss(loss).target_kind == cls.target_kind


def test_sign_targets_are_checked(blobs):
    X, _ = blobs
    model = nn.Linear(4, 1)
    signs = np.where(np.arange(60) % 2, 1.0, -1.0).astype(np.float32)[:, None]
    trainer = Trainer(model, nn.SoftMarginLoss(), optim.SGD(model.parameters(), lr=0.1))
    trainer.fit((X, signs), batch_size=20, verbose=0)
    with pytest.raises(ValueError, match=r"^fit: train_data: SoftMarginLoss expects labels 1 or -1, got values in "
                                         r"\[0.0, 1.0\]$"):
        trainer.fit((X, (signs + 1) / 2), verbose=0)
    with pytest.raises(ValueError, match="'accuracy' needs a classification loss.*target_kind 'signs'"):
        Trainer(model, nn.SoftMarginLoss(), metrics=["accuracy"])
