"""``Trainer`` and ``fit``: a Keras-style training loop over PyTorch-style models and optimizers.

Keras' shape (``keras/src/trainers/trainer.py``): ``fit`` runs epochs of ``train_step(batch)``,
``evaluate`` runs ``test_step(batch)``, ``predict`` runs ``predict_step(batch)``, and callbacks
are called around every epoch and batch. Override the ``*_step`` methods for custom training
(a GAN, a multi-loss model); the default ``train_step`` is forward -> loss -> backward ->
``optimizer_step()``, where ``optimizer_step`` does gradient accumulation and clipping.

    history = shendu.train.fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=10,
                               batch_size=32, validation_split=0.2, seed=0)
    Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"]).fit(loader, epochs=10)
"""
from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Iterable
from typing import Any

from shendu.autograd import no_grad
from shendu.io.checkpoint import load_checkpoint, save_checkpoint
from shendu.metrics.base import Mean
from shendu.random import Generator, manual_seed
from shendu.tensor import Tensor
from shendu.train import data_adapter as da
from shendu.train.callbacks import Callback, CallbackList, LearningRateScheduler, ModelCheckpoint
from shendu.train.compile_utils import check_label_range, check_targets, resolve_loss, resolve_metrics
from shendu.train.history import History
from shendu.train.loggers import ProgressBar


class Trainer:
    """Trains ``model`` with ``loss`` and ``optimizer``.

    Args:
        model: a ``shendu.nn.Module`` (anything callable with ``train()``/``eval()``/``state_dict()``).
        loss: a loss Module, a function ``(outputs, targets) -> scalar`` or a name
            (``'cross_entropy'``, ``'nll_loss'``, ``'mse'``, ``'l1'``, ``'bce'``, ``'bce_with_logits'``...).
        optimizer: a ``shendu.optim`` optimizer.
        metrics: names (``'accuracy'``, ``'mse'``, ``'mae'``, ``'perplexity'`` or any
            ``shendu.metrics`` name), ``Metric`` objects or functions ``fn(y_true, y_pred)``
            (computed on the epoch's concatenated outputs). Default None: accuracy for
            classification losses, nothing otherwise.
        callbacks: ``Callback`` objects used by every ``fit``.
        scheduler: an LR scheduler stepped per epoch (after validation) or, with
            ``scheduler_interval='step'``, per optimizer step; ``ReduceLROnPlateau`` is fed
            ``val_loss`` (or ``loss`` without validation).
        grad_accumulation_steps: micro-batches per optimizer step; each micro-batch loss is divided
            by the number of micro-batches in its window, so k batches of n equal one batch of k*n
            with a mean loss. The last window of an epoch may be shorter.
        clip_grad_norm / clip_grad_value: clip gradients (``clip_grad_norm_`` / ``clip_grad_value_``)
            before each optimizer step.
        on_nonfinite: ``'raise'`` (FloatingPointError naming the epoch and step) or ``'skip'`` (no
            update from that batch; ``history['skipped_steps']`` counts them).

    Attributes: ``history``, ``stop_training`` (a callback sets it to end ``fit``), ``epoch``
    (epochs completed), ``global_step`` (optimizer steps), ``last_step_applied`` (whether the
    current batch stepped the optimizer), ``params`` (``epochs``, ``steps`` per epoch, ``verbose``).
    """

    def __init__(self, model, loss: Any = None, optimizer=None, metrics: Any = None, callbacks: Iterable = (), *,
                 scheduler=None, scheduler_interval: str = "epoch", grad_accumulation_steps: int = 1,
                 clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
                 on_nonfinite: str = "raise"):
        if not isinstance(grad_accumulation_steps, int) or grad_accumulation_steps < 1:
            raise ValueError(f"Trainer: grad_accumulation_steps must be an integer >= 1, got {grad_accumulation_steps}")
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"Trainer: on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        for name, value in (("clip_grad_norm", clip_grad_norm), ("clip_grad_value", clip_grad_value)):
            if value is not None and not value > 0:
                raise ValueError(f"Trainer: {name} must be positive, got {value}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.loss_spec = resolve_loss(loss)
        self.metrics = resolve_metrics(metrics, self.loss_spec)
        self.callbacks = list(callbacks)
        self.scheduler, self.scheduler_interval = scheduler, scheduler_interval
        self.grad_accumulation_steps = grad_accumulation_steps
        self.clip_grad_norm, self.clip_grad_value = clip_grad_norm, clip_grad_value
        self.on_nonfinite = on_nonfinite
        self.history = History()
        self.stop_training = False
        self.last_step_applied = False
        self.last_grad_norm: float | None = None
        self.epoch = self.global_step = self.step = 0
        self.params: dict = {}
        self._where = "fit"
        self._tracker, self._active_metrics = Mean(), self.metrics
        self._window, self._at_boundary = 1, True
        self._callbacks: CallbackList | None = None
        self._train_loader = None
        self._epoch_logs: dict | None = None

    # -- the steps (override these) -----------------------------------------------------------------
    def train_step(self, batch) -> dict:
        """One micro-batch: forward, loss, backward, ``optimizer_step()``; returns the batch's logs."""
        inputs, targets = da.unpack_batch(batch)
        outputs = self.model(*inputs)
        loss = self.compute_loss(outputs, targets)
        value = float(loss.item())
        if not math.isfinite(value):
            self.handle_nonfinite(value)
            self.optimizer_step()
            return {"loss": value, "skipped": 1}
        (loss / self._window if self._window > 1 else loss).backward()
        self.optimizer_step()
        with no_grad():
            self.update_metrics(value, outputs, targets, da.batch_size_of(targets, inputs))
        return {"loss": value}

    def test_step(self, batch) -> dict:
        """One evaluation batch (under ``no_grad``, model in eval mode): loss and metrics."""
        inputs, targets = da.unpack_batch(batch)
        outputs = self.model(*inputs)
        value = float(self.compute_loss(outputs, targets).item()) if self.loss_spec is not None else None
        self.update_metrics(value, outputs, targets, da.batch_size_of(targets, inputs))
        return {} if value is None else {"loss": value}

    def predict_step(self, batch):
        """The model's outputs for one batch (targets, if the batch has them, are ignored)."""
        inputs, _ = da.unpack_batch(batch)
        return self.model(*inputs)

    # -- helpers the steps use ----------------------------------------------------------------------
    def compute_loss(self, outputs, targets) -> Tensor:
        """The loss of ``outputs`` against ``targets``, after checking the targets suit the loss."""
        if targets is None:
            raise ValueError(f"{self._where}: the batches have no targets; pass (inputs, targets) pairs")
        try:
            check_targets(self.loss_spec, outputs, targets)
        except ValueError as e:
            raise ValueError(f"{self._where}: {e} (at epoch {self.epoch}, step {self.step})") from None
        return self.loss_spec.fn(outputs, targets)

    def update_metrics(self, loss: float | None, outputs, targets, n: int) -> None:
        """Add a batch to the running loss (weighted by its ``n`` samples) and metrics."""
        if loss is not None:
            self._tracker.update(loss, weight=n)
        if targets is not None:
            for metric in self._active_metrics.values():
                metric.update(outputs, targets)

    def handle_nonfinite(self, value: float) -> None:
        """Raise, or (``on_nonfinite='skip'``) let the caller skip the batch."""
        if self.on_nonfinite == "raise":
            raise FloatingPointError(
                f"fit: the loss is {value} at epoch {self.epoch} step {self.step} (0-based); lower the learning "
                "rate, clip gradients (clip_grad_norm=...) or pass on_nonfinite='skip' to skip such batches")

    def optimizer_step(self) -> bool:
        """At the end of an accumulation window: clip, ``optimizer.step()``, ``zero_grad()``.

        Returns whether the optimizer stepped (also in ``last_step_applied``).
        """
        if not self._at_boundary:
            return False
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if any(p.grad is not None for p in params):  # none when every batch of the window was skipped
            from shendu.nn.utils import clip_grad_norm_, clip_grad_value_

            if self.clip_grad_value is not None:
                clip_grad_value_(params, self.clip_grad_value)
            if self.clip_grad_norm is not None:
                self.last_grad_norm = float(clip_grad_norm_(params, self.clip_grad_norm).item())
            self.optimizer.step()
            self.global_step += 1
            self.last_step_applied = True
        self.optimizer.zero_grad()
        return self.last_step_applied

    # -- fit ------------------------------------------------------------------------------------------
    def fit(self, train_data, *, epochs: int = 1, batch_size: int | None = None, validation_data=None,
            validation_split: float | None = None, callbacks: Iterable[Callback] = (), shuffle: bool = True,
            seed: int | None = None, verbose: int = 1, initial_epoch: int = 0,
            resume_from: str | os.PathLike | ModelCheckpoint | None = None) -> History:
        """Train for ``epochs`` epochs (indices ``initial_epoch .. epochs-1``) and return the ``History``.

        Args:
            train_data: ``(X, y)`` arrays/tensors, a ``Dataset`` of ``(x, y)`` or a ``DataLoader``.
            batch_size: for arrays and Datasets (default 32); must be None with a DataLoader.
            validation_data: ``(X, y)``, a Dataset or a DataLoader, evaluated after each epoch
                (logs ``val_loss``, ``val_<metric>``).
            validation_split: hold out this last fraction of ``train_data`` (arrays or Dataset).
            callbacks: added to the Trainer's own for this run.
            shuffle: reshuffle arrays/Datasets every epoch (a DataLoader keeps its own setting).
            seed: seed the global generators (shendu, NumPy, Python) and the shuffling, so the same
                seed gives the same numbers.
            verbose: 0 silent, 1 a progress bar per epoch, 2 a line per epoch (only on a terminal).
            resume_from: a checkpoint file (or a folder holding ``last.safetensors``, or a
                ``ModelCheckpoint``) to continue from: weights, optimizer, scheduler, RNG streams,
                epoch, history and callback states are restored, so the run finishes exactly as an
                uninterrupted one would.
        """
        if self.optimizer is None or self.loss_spec is None:
            raise ValueError("fit: the Trainer needs a loss and an optimizer")
        if not isinstance(epochs, int) or epochs < 0 or initial_epoch < 0:
            raise ValueError(f"fit: epochs must be an integer >= 0 and initial_epoch >= 0, got {epochs}, "
                             f"{initial_epoch}")
        generator = None
        if seed is not None:
            manual_seed(seed)
            random.seed(seed)
            generator = Generator().manual_seed(seed)
        if validation_split:
            if validation_data is not None:
                raise ValueError("fit: pass validation_data or validation_split, not both")
            train_data, validation_data = da.split_validation(train_data, validation_split)
        self._where = "fit"
        self.preflight(train_data, "train_data")
        loader = da.make_loader(train_data, batch_size=batch_size, shuffle=shuffle, generator=generator)
        val_loader = None
        if validation_data is not None:
            self.preflight(validation_data, "validation_data")
            val_loader = da.make_loader(validation_data, batch_size=None if da.is_loader(validation_data)
                                        else batch_size, what="validation_data")
        cbs = self.callbacks + list(callbacks)
        if self.scheduler is not None:
            cbs.insert(0, LearningRateScheduler(self.scheduler, self.scheduler_interval))
        if verbose and not any(isinstance(c, ProgressBar) for c in cbs):
            cbs.append(ProgressBar(verbose))
        self._callbacks = cb = CallbackList(cbs, self)
        self.params = {"epochs": epochs, "steps": len(loader) if hasattr(loader, "__len__") else None,
                       "verbose": verbose}
        self._train_loader, self.history, self.stop_training = loader, History(), False
        self.epoch = initial_epoch
        self._val_metrics = copy.deepcopy(self.metrics)
        cb.on_train_begin({})
        if resume_from is not None:
            self._resume(resume_from)
        self.optimizer.zero_grad()
        logs: dict = {}
        for epoch in range(self.epoch, epochs):
            if self.stop_training:
                break
            cb.on_epoch_begin(epoch, {})
            lr = float(self.optimizer.param_groups[0]["lr"])
            logs = self._train_epoch(loader, epoch, cb)
            if val_loader is not None:
                val = self._run_evaluation(val_loader, self._val_metrics, "validation_data")
                logs.update({f"val_{k}": v for k, v in val.items()})
            logs["lr"] = lr
            self.history.append(epoch, logs)
            self.epoch, self._epoch_logs = epoch + 1, logs
            cb.on_epoch_end(epoch, logs)
            self.history.update_last(logs)  # what callbacks added or changed
            self._epoch_logs = None
        cb.on_train_end(logs)
        self._train_loader = None
        return self.history

    def _train_epoch(self, loader, epoch: int, cb: CallbackList) -> dict:
        self.model.train()
        self._where, self._tracker, self._active_metrics = "fit", Mean(), self.metrics
        for m in self.metrics.values():
            m.reset()
        k = self.grad_accumulation_steps
        n_batches = len(loader) if hasattr(loader, "__len__") else None
        skipped, step = 0, -1
        sums: dict[str, float] = {}  # batch logs of an overridden train_step, averaged over the epoch
        for step, (batch, is_last) in enumerate(da.with_last(loader)):
            self.step, self.last_step_applied = step, False
            self._at_boundary = is_last or (step + 1) % k == 0
            start = step - step % k
            self._window = min(k, n_batches - start) if n_batches else k
            cb.on_batch_begin(step, {})
            batch_logs = self.train_step(batch) or {}
            if batch_logs.pop("skipped", 0):
                skipped += 1
            else:
                for key, value in batch_logs.items():
                    if isinstance(value, (int, float, Tensor)):
                        sums[key] = sums.get(key, 0.0) + float(value.item() if isinstance(value, Tensor) else value)
            cb.on_batch_end(step, batch_logs)
            if self.stop_training:
                break
        if step < 0:
            raise ValueError(f"fit: train_data produced no batches at epoch {epoch}")
        logs = {key: total / (step + 1 - skipped) for key, total in sums.items()}
        if self._tracker.weight or "loss" not in logs:  # the sample-weighted mean beats the mean of batch means
            logs["loss"] = self._tracker.compute()
        for name, metric in self.metrics.items():
            value = metric.compute()
            if not (name in logs and isinstance(value, float) and math.isnan(value)):  # a custom step logged it
                logs[name] = value
        if self.on_nonfinite == "skip":
            logs["skipped_steps"] = skipped
        return logs

    # -- evaluate / predict ----------------------------------------------------------------------------
    def _run_evaluation(self, loader, metrics: dict, where: str) -> dict:
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        saved = self._where, self._tracker, self._active_metrics, self.step
        self._where, self._tracker, self._active_metrics = where, Mean(), metrics
        for m in metrics.values():
            m.reset()
        try:
            with no_grad():
                for step, batch in enumerate(loader):
                    self.step = step
                    self.test_step(batch)
            out = {"loss": self._tracker.compute()} if self.loss_spec is not None else {}
            out.update({k: m.compute() for k, m in metrics.items()})
            return out
        finally:
            self._where, self._tracker, self._active_metrics, self.step = saved
            self.model.train(was_training)

    def evaluate(self, data, *, batch_size: int | None = None) -> dict:
        """``{"loss": mean loss per sample, <metric>: value}`` over ``data`` (model in eval mode, no_grad)."""
        if self.loss_spec is None and not self.metrics:
            raise ValueError("evaluate: the Trainer has neither a loss nor metrics")
        self.preflight(data, "evaluate")
        loader = da.make_loader(data, batch_size=batch_size, what="evaluate")
        return self._run_evaluation(loader, copy.deepcopy(self.metrics), "evaluate")

    def predict(self, data, *, batch_size: int | None = None):
        """The model's outputs for every sample of ``data``, concatenated along dim 0 (eval mode, no_grad)."""
        loader = da.make_loader(data, batch_size=batch_size, what="predict")
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        try:
            with no_grad():
                outputs = [self.predict_step(batch) for batch in loader]
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("predict: the data produced no batches")
        return da.concat_outputs(outputs)

    # -- checks before training -------------------------------------------------------------------------
    def preflight(self, data, what: str) -> None:
        """Check labels against the loss before any update, when all labels are at hand (arrays,
        TensorDataset): dtype and shape on a 2-sample probe forward, then the range of every label."""
        spec = self.loss_spec
        if spec is None or spec.kind is None:
            return
        if da.is_arrays(data):
            da.as_tensors(data, what)  # mismatched counts
        labels, x = da.full_labels(data), da.first_inputs(data)
        if labels is None or x is None:
            return
        if spec.kind == "class" and labels.dtype.kind == "f" and labels.ndim == 1:
            raise ValueError(f"{what}: {spec.name} expects integer class indices as labels, got float labels "
                             f"(dtype {labels.dtype}); convert them with y.long()")
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        try:
            with no_grad():
                probe = self.model(x)
        finally:
            self.model.train(was_training)
        try:
            if spec.kind == "class" and labels.dtype.kind in "iu" and isinstance(probe, Tensor) and probe.ndim >= 2:
                check_label_range(spec, labels._data, probe.shape[1])
            check_targets(spec, probe, labels[:x.shape[0]])
            if spec.kind.startswith("binary"):
                check_targets(spec, Tensor._wrap(labels._data), labels)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None

    # -- checkpoints ---------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write everything needed to resume this run exactly (atomically)."""
        if self._epoch_logs is not None:  # saved from on_epoch_end: the logs as callbacks left them so far
            self.history.update_last(self._epoch_logs)
        gen = getattr(self._train_loader, "generator", None)
        extra = {
            "trainer": {"global_step": self.global_step, "stop_training": self.stop_training,
                        "loader_generator": gen.get_state() if isinstance(gen, Generator) else None},
            "callbacks": self._callbacks.state_dict() if self._callbacks is not None else {},
        }
        save_checkpoint(path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                        epoch=self.epoch, history=self.history.state_dict(), extra=extra)

    def _resume(self, resume_from) -> None:
        path = resume_from.last_path if isinstance(resume_from, ModelCheckpoint) else os.fspath(resume_from)
        if os.path.isdir(path):
            path = os.path.join(path, "last.safetensors")
        ckpt = load_checkpoint(path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler)
        self.epoch = int(ckpt["epoch"])
        if ckpt.get("history"):
            self.history.load_state_dict(ckpt["history"])
        extra = ckpt.get("extra") or {}
        state = extra.get("trainer") or {}
        self.global_step = int(state.get("global_step", 0))
        self.stop_training = bool(state.get("stop_training", False))
        gen = getattr(self._train_loader, "generator", None)
        if isinstance(gen, Generator) and state.get("loader_generator"):
            gen.set_state(state["loader_generator"])
        if self._callbacks is not None:
            self._callbacks.load_state_dict(extra.get("callbacks") or {})


def fit(model, train_data, *, loss, optimizer, epochs: int = 1, batch_size: int | None = None,
        validation_data=None, validation_split: float | None = None, metrics: Any = None,
        callbacks: Iterable[Callback] = (), scheduler=None, scheduler_interval: str = "epoch",
        grad_accumulation_steps: int = 1, clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
        shuffle: bool = True, seed: int | None = None, verbose: int = 1, on_nonfinite: str = "raise",
        initial_epoch: int = 0, resume_from=None) -> History:
    """``Trainer(model, loss, optimizer, metrics, ...).fit(train_data, ...)`` in one call (see ``Trainer``)."""
    trainer = Trainer(model, loss, optimizer, metrics, scheduler=scheduler, scheduler_interval=scheduler_interval,
                      grad_accumulation_steps=grad_accumulation_steps, clip_grad_norm=clip_grad_norm,
                      clip_grad_value=clip_grad_value, on_nonfinite=on_nonfinite)
    return trainer.fit(train_data, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                       validation_split=validation_split, callbacks=callbacks, shuffle=shuffle, seed=seed,
                       verbose=verbose, initial_epoch=initial_epoch, resume_from=resume_from)


def evaluate(model, data, *, loss: Any = None, metrics: Any = None, batch_size: int | None = None) -> dict:
    """``Trainer(model, loss, metrics=metrics).evaluate(data)``."""
    return Trainer(model, loss, None, metrics).evaluate(data, batch_size=batch_size)


def predict(model, data, *, batch_size: int | None = None):
    """``Trainer(model).predict(data)``: outputs for every sample, concatenated along dim 0."""
    return Trainer(model).predict(data, batch_size=batch_size)
