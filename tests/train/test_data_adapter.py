"""Data enters once: every accepted form becomes Batches in one call, checked there, with no forward pass."""
import numpy as np
import pytest

import shendu as sd
from shendu import nn, optim
from shendu.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset
from shendu.train import Trainer
from shendu.train import data_adapter as da
from shendu.train.compile_utils import resolve_loss


class Counting(nn.Module):
    """Linear 4 -> 3 that counts its forward calls."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(x)


class Pairs(Dataset):
    """A map-style Dataset that is not a TensorDataset (its labels are not at hand)."""

    def __init__(self, X, y):
        self.X, self.y = sd.tensor(X), sd.tensor(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


def test_arrays_become_a_loader_with_labels_at_hand(blobs):
    X, y = blobs
    batches = da.adapt((X.astype(np.float64), y), "evaluate: data", batch_size=16)
    assert isinstance(batches.loader, DataLoader) and batches.num_batches == 4 and batches.what == "evaluate: data"
    np.testing.assert_array_equal(batches.labels._data, y)
    xb, yb = next(iter(batches))
    assert xb.dtype == sd.float32 and yb.dtype == sd.int64  # float64 arrays take the default float dtype
    np.testing.assert_array_equal(xb._data, X[:16])  # evaluation keeps the order
    assert da.adapt(X, "predict: data").labels is None  # a bare array is inputs only
    loader = DataLoader(TensorDataset(sd.tensor(X), sd.tensor(y)), batch_size=7)
    assert da.adapt(loader, "evaluate: data").loader is loader  # a DataLoader is used as it is


def test_adapt_fit_splits_the_last_fraction(blobs):
    X, y = blobs
    train, val = da.adapt_fit((X, y), validation_split=0.25, batch_size=10, shuffle=False)
    np.testing.assert_array_equal(train.labels._data, y[:45])
    np.testing.assert_array_equal(val.labels._data, y[45:])
    assert (train.num_batches, val.num_batches) == (5, 2) and val.what == "fit: validation_data"
    train, val = da.adapt_fit(Pairs(X, y), validation_split=0.5, batch_size=10)
    assert isinstance(val.loader.dataset, Subset) and list(val.loader.dataset.indices) == list(range(30, 60))
    assert train.labels is None


def test_fit_adapts_its_data_once_and_never_probes_the_model(blobs, monkeypatch):
    X, y = blobs
    calls = []
    real = da.adapt_fit
    monkeypatch.setattr(da, "adapt_fit", lambda *a, **k: calls.append("adapt_fit") or real(*a, **k))
    monkeypatch.setattr(da, "adapt", lambda *a, **k: pytest.fail("fit must not adapt its data a second time"))
    model = Counting()
    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)).fit(
        (X, y), epochs=1, batch_size=20, validation_data=(X[:10], y[:10]), verbose=0)
    assert calls == ["adapt_fit"]
    assert model.calls == 3 + 1  # 3 training batches, 1 validation batch: nothing else ran the model


BAD = [  # (fit arguments, error type, the whole message's start)
    ({"train_data": ("X", "y[:50]")}, ValueError,
     "fit: train_data: inputs and labels must have the same number of samples (first dimension), got 60 inputs "
     "and 50 labels"),
    ({"train_data": ("X[:0]", "y[:0]")}, ValueError, "fit: train_data: no samples (inputs of shape (0, 4))"),
    ({"train_data": "Pairs(X[:0], y[:0])"}, ValueError, "fit: train_data: the dataset is empty"),
    ({"train_data": "{'x': X}"}, TypeError,
     "fit: train_data: expected (X, y) arrays or tensors, a Dataset or a DataLoader, got dict"),
    ({"train_data": "7"}, TypeError, "fit: train_data: expected (X, y) arrays or tensors, a Dataset or a "
                                     "DataLoader, got int"),
    ({"train_data": "loader", "batch_size": 8}, ValueError,
     "fit: train_data: batch_size=8 cannot be used with a DataLoader"),
    ({"train_data": ("X", "y"), "batch_size": 0}, ValueError, "fit: batch_size must be a positive integer, got 0"),
    ({"train_data": ("X", "y"), "validation_split": 1.5}, ValueError,
     "fit: validation_split must be a fraction in (0, 1), got 1.5"),
    ({"train_data": ("X", "y"), "validation_split": 0.01}, ValueError,
     "fit: validation_split=0.01 of 60 samples leaves an empty split"),
    ({"train_data": "loader", "validation_split": 0.2}, ValueError,
     "fit: validation_split needs (X, y) arrays or a Dataset as train_data, got a DataLoader"),
    ({"train_data": ("X", "y"), "validation_split": 0.2, "validation_data": ("X", "y")}, ValueError,
     "fit: pass validation_data or validation_split, not both"),
    ({"train_data": ("X", "y"), "validation_data": ("X", "y.astype(np.float32)")}, ValueError,
     "fit: validation_data: CrossEntropyLoss expects integer class indices as labels"),
    ({"train_data": ("X", "y - 1")}, ValueError,
     "fit: train_data: CrossEntropyLoss: labels must be class indices >= 0 or ignore_index=-100, got labels in "
     "[-1, 1]"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD)
def test_bad_data_is_named_once_before_any_forward(blobs, snapshot, kwargs, error, message):
    X, y = blobs
    env = {"X": X, "y": y, "np": np, "Pairs": Pairs,
           "loader": DataLoader(TensorDataset(sd.tensor(X), sd.tensor(y)), batch_size=10)}

    def value(v):
        return tuple(eval(e, env) for e in v) if isinstance(v, tuple) else eval(v, env) if isinstance(v, str) else v

    kwargs = {k: value(v) for k, v in kwargs.items()}
    model = Counting()
    before = snapshot(model)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(error) as info:
        trainer.fit(kwargs.pop("train_data"), verbose=0, **kwargs)
    text = str(info.value)
    assert text.startswith(message), text
    assert text.count("fit:") == 1 and text.count("train_data:") + text.count("validation_data:") <= 1
    assert model.calls == 0
    for k, v in snapshot(model).items():
        np.testing.assert_array_equal(v, before[k])


def test_label_checks_that_need_outputs_run_on_the_real_batch(blobs):
    X, y = blobs
    model = Counting()
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    W0 = model.fc.weight._data.copy()
    with pytest.raises(ValueError) as info:
        trainer.fit((X, np.where(y == 2, 3, y)), batch_size=20, shuffle=False, verbose=0)
    assert str(info.value) == ("fit: train_data: CrossEntropyLoss: labels must be class indices in [0, 3) (the model "
                               "outputs 3 classes) or ignore_index=-100, got labels in [0, 3]")
    assert model.calls == 1  # the first training batch's own forward; no update was made
    np.testing.assert_array_equal(model.fc.weight._data, W0)
    # Validation labels at hand are checked against that first batch too: not after a whole epoch.
    y_val = y[:10].copy()
    y_val[9] = 7
    with pytest.raises(ValueError) as info:
        trainer.fit((X, y), batch_size=20, validation_data=(X[:10], y_val), verbose=0)
    assert str(info.value).startswith("fit: validation_data: CrossEntropyLoss: labels must be class indices in "
                                      "[0, 3)") and str(info.value).endswith("got labels in [0, 7]")
    assert model.calls == 2 and trainer.global_step == 0
    np.testing.assert_array_equal(model.fc.weight._data, W0)
    # Labels not at hand (a DataLoader) are checked batch by batch, naming the step.
    y_bad = y.copy()
    y_bad[45] = 5
    with pytest.raises(ValueError, match=r"got labels in \[0, 5\] \(at epoch 0, step 2\)$"):
        trainer.fit(DataLoader(TensorDataset(sd.tensor(X), sd.tensor(y_bad)), batch_size=20), verbose=0)
    with pytest.raises(ValueError, match=r"^evaluate: data: CrossEntropyLoss: outputs of shape \(60, 3\) expect "
                                         r"labels of shape \(60,\), got \(60, 1\) \(at step 0\)$"):
        trainer.evaluate((X, y[:, None]), batch_size=60)


def test_loaders_without_length_and_iterable_datasets(blobs):
    X, y = blobs

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(zip(sd.tensor(X), sd.tensor(y)))

    def batches():  # 3 batches of 20 from a generator: no length
        for i in range(0, 60, 20):
            yield sd.tensor(X[i:i + 20]), sd.tensor(y[i:i + 20])

    results = []
    for data, batch_size in ((batches(), None), (Stream(), 20), ((X, y), 20)):
        sd.manual_seed(0)
        model = nn.Linear(4, 3)
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                          grad_accumulation_steps=2)
        h = trainer.fit(data, batch_size=batch_size, shuffle=False, verbose=0)
        assert trainer.global_step == 2  # windows [0, 1] and [2]: the last batch ends its window
        results.append((h["loss"], model.weight._data.copy()))
    np.testing.assert_allclose(results[0][0], results[2][0], rtol=1e-6)
    np.testing.assert_allclose(results[1][0], results[2][0], rtol=1e-6)
    with pytest.raises(ValueError, match="validation_split needs .* got a Stream"):
        Trainer(nn.Linear(4, 3), nn.CrossEntropyLoss(), optim.SGD(nn.Linear(4, 3).parameters(), lr=0.1)).fit(
            Stream(), validation_split=0.5, verbose=0)


def test_resolve_loss_names_stand_for_modules():
    spec = resolve_loss("ce")
    assert isinstance(spec.fn, nn.CrossEntropyLoss) and spec.name == "cross_entropy"
    assert spec.target_kind == nn.CrossEntropyLoss.target_kind
    assert resolve_loss("mse").target_kind == nn.MSELoss.target_kind
    with pytest.raises(ValueError, match="unknown loss 'cross'"):
        resolve_loss("cross")
