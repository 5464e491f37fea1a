"""``Trainer`` and ``fit``: a Keras-style training loop over PyTorch-style models and optimizers.

Keras' shape (``keras/src/trainers/trainer.py``): ``fit`` runs epochs of ``train_step(batch)``,
``evaluate`` runs ``test_step(batch)``, ``predict`` runs ``predict_step(batch)``, and callbacks
are called around every epoch and batch. Override the ``*_step`` methods for custom training
(a GAN, a multi-loss model); the default ``train_step`` is forward -> loss -> backward ->
``optimizer_step()``, where ``optimizer_step`` does gradient accumulation and clipping.

Data enters once: ``fit`` adapts and checks its data (``data_adapter.adapt_fit``), then runs the
loop; the steps read only the trainer's named state (``accumulation``, ``train_metrics``,
``eval_metrics``, ``epoch``, ``step``; see ``shendu.train.state`` for when each is reset).

    history = shendu.train.fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=10,
                               batch_size=32, validation_split=0.2, seed=0)
    Trainer(model, nn.CrossEntropyLoss(), opt, metrics=["accuracy"]).fit(loader, epochs=10)
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable
from typing import Any

from shendu.grad_mode import no_grad
from shendu.io.checkpoint import load_checkpoint, save_checkpoint
from shendu.random import Generator, manual_seed
from shendu.tensor import Tensor
from shendu.train import data_adapter as da
from shendu.train.callbacks import Callback, CallbackList, LearningRateScheduler, ModelCheckpoint, ProgressBar
from shendu.train.compile_utils import TargetError, check_targets, resolve_loss, resolve_metrics
from shendu.train.history import History
from shendu.train.state import EpochMetrics, GradientAccumulation


class Trainer:
    """Trains ``model`` with ``loss`` and ``optimizer``.

    Args:
        model: a ``shendu.nn.Module`` (anything callable with ``train()``/``eval()``/``state_dict()``).
        loss: a loss Module, a function ``(outputs, targets) -> scalar`` or a name
            (``'cross_entropy'``, ``'nll_loss'``, ``'mse'``, ``'l1'``, ``'bce'``, ``'bce_with_logits'``...).
            A loss Module's ``target_kind`` says what targets it takes; they are checked against it.
        optimizer: a ``shendu.optim`` optimizer.
        metrics: names (``'accuracy'``, ``'mse'``, ``'mae'``, ``'perplexity'`` or any
            ``shendu.metrics`` name), ``Metric`` objects or functions ``fn(y_true, y_pred)``
            (computed on the epoch's concatenated outputs). Default None: accuracy for losses
            that take class indices, nothing otherwise.
        callbacks: ``Callback`` objects used by every ``fit``.
        scheduler: an LR scheduler stepped per epoch (after validation) or, with
            ``scheduler_interval='step'``, per optimizer step; ``ReduceLROnPlateau`` is fed
            ``val_loss`` (or ``loss`` without validation).
        grad_accumulation_steps: micro-batches per optimizer step (see ``GradientAccumulation``):
            k batches of n equal one batch of k*n with a mean loss. The last window of an epoch may
            be shorter.
        clip_grad_norm / clip_grad_value: clip gradients (``clip_grad_norm_`` / ``clip_grad_value_``)
            before each optimizer step.
        on_nonfinite: ``'raise'`` (FloatingPointError naming the epoch and step) or ``'skip'`` (no
            update from that batch; ``history['skipped_steps']`` counts them).

    Attributes: ``history``, ``stop_training`` (a callback sets it to end ``fit``), ``epoch``
    (epochs completed), ``step`` (the batch's index in its epoch), ``global_step`` (optimizer
    steps), ``last_step_applied`` (whether the last ``optimizer_step`` stepped), ``last_grad_norm``,
    ``params`` (``epochs``, ``steps`` per epoch, ``verbose``), ``metrics`` (``{name: Metric}`` of
    training), ``accumulation`` (``GradientAccumulation``), ``train_metrics`` and ``eval_metrics``
    (``EpochMetrics``: running loss and metrics of training and of evaluation), ``labels_to_check``
    (the ``Batches`` whose labels at hand ``compute_loss`` checks against the first outputs' class
    count; set by ``fit``, emptied at that first check).
    """

    def __init__(self, model, loss: Any = None, optimizer=None, metrics: Any = None, callbacks: Iterable = (), *,
                 scheduler=None, scheduler_interval: str = "epoch", grad_accumulation_steps: int = 1,
                 clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
                 on_nonfinite: str = "raise"):
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
        self.accumulation = GradientAccumulation(grad_accumulation_steps)
        self.clip_grad_norm, self.clip_grad_value = clip_grad_norm, clip_grad_value
        self.on_nonfinite = on_nonfinite
        self.train_metrics = EpochMetrics(self.metrics)
        self.eval_metrics = self.train_metrics.copy()
        self.history = History()
        self.stop_training = False
        self.last_step_applied = False
        self.last_grad_norm: float | None = None
        self.epoch = self.global_step = self.step = 0
        self.params: dict = {}
        self._callbacks: CallbackList | None = None
        self._train_batches: da.Batches | None = None
        self.labels_to_check: list[da.Batches] = []
        self._epoch_logs: dict | None = None

    @property
    def grad_accumulation_steps(self) -> int:
        """Micro-batches per optimizer step (``accumulation.steps``)."""
        return self.accumulation.steps

    # -- the steps (override these) -----------------------------------------------------------------
    def train_step(self, batch) -> dict:
        """One micro-batch: forward, loss, backward, ``optimizer_step()``, metrics; returns the batch's logs.

        Reads ``accumulation`` (the loss scale of this micro-batch), updates ``train_metrics``.
        """
        inputs, targets = da.unpack_batch(batch)
        outputs = self.model(*inputs)
        value, skipped = self.backward_and_step(self.compute_loss(outputs, targets))
        if skipped:
            return {"loss": value, "skipped": 1}
        with no_grad():
            self.train_metrics.update(value, outputs, targets, da.batch_size_of(targets, inputs))
        return {"loss": value}

    def test_step(self, batch) -> dict:
        """One evaluation batch (``evaluate`` runs it under ``no_grad``, the model in eval mode): the
        loss and metrics go into ``eval_metrics``; returns the batch's logs."""
        inputs, targets = da.unpack_batch(batch)
        outputs = self.model(*inputs)
        value = float(self.compute_loss(outputs, targets).item()) if self.loss_spec is not None else None
        self.eval_metrics.update(value, outputs, targets, da.batch_size_of(targets, inputs))
        return {} if value is None else {"loss": value}

    def predict_step(self, batch):
        """The model's outputs for one batch (targets, if the batch has them, are ignored)."""
        inputs, _ = da.unpack_batch(batch)
        return self.model(*inputs)

    # -- helpers the steps use ----------------------------------------------------------------------
    def backward_and_step(self, loss: Tensor) -> tuple[float, bool]:
        """This micro-batch's ``loss`` backpropagated at the accumulation window's scale, then
        ``optimizer_step()``; a non-finite loss is handed to ``handle_nonfinite`` instead of backward.

        Returns ``(loss value, skipped)``.
        """
        value = float(loss.item())
        if not math.isfinite(value):
            self.handle_nonfinite(value)
            self.optimizer_step()
            return value, True
        window = self.accumulation.window
        (loss / window if window > 1 else loss).backward()
        self.optimizer_step()
        return value, False

    def compute_loss(self, outputs, targets) -> Tensor:
        """The loss of ``outputs`` against ``targets``, after checking the targets suit the loss
        (``TargetError``, which the loops extend with the data's name, epoch and step)."""
        if targets is None:
            raise TargetError("the batches have no targets; pass (inputs, targets) pairs")
        if isinstance(outputs, Tensor):
            if self.labels_to_check:
                self._check_labels_at_hand(tuple(outputs.shape))
            check_targets(self.loss_spec, targets, tuple(outputs.shape))
        loss = self.loss_spec.fn(outputs, targets)
        if isinstance(loss, Tensor) and loss.ndim:
            raise TargetError(f"{self.loss_spec.name} returned a loss of shape {tuple(loss.shape)}; the trainer "
                              "needs a scalar (reduction='mean' or 'sum')")
        return loss

    def _check_labels_at_hand(self, out_shape: tuple) -> None:
        # The first outputs tell the class count: check every label at hand against it once, so a
        # bad validation label fails before the first update, not after the first epoch.
        pending, self.labels_to_check = self.labels_to_check, []
        for batches in pending:
            try:
                check_targets(self.loss_spec, batches.labels, (len(batches.labels),) + out_shape[1:])
            except TargetError as e:
                raise ValueError(f"{batches.what}: {e}") from None

    def handle_nonfinite(self, value: float) -> None:
        """Raise, or (``on_nonfinite='skip'``) let the caller skip the batch."""
        if self.on_nonfinite == "raise":
            raise FloatingPointError(
                f"fit: the loss is {value} at epoch {self.epoch} step {self.step} (0-based); lower the learning "
                "rate, clip gradients (clip_grad_norm=...) or pass on_nonfinite='skip' to skip such batches")

    def optimizer_step(self) -> bool:
        """End one micro-batch: at the end of its accumulation window clip, ``optimizer.step()`` and
        ``zero_grad()``. Returns whether the optimizer stepped (also in ``last_step_applied``)."""
        acc = self.accumulation
        ends_window = acc.ends_window
        acc.advance()
        self.last_step_applied = False
        if not ends_window:
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

    def _run_step(self, step_fn, batch, batches: da.Batches):
        try:
            return step_fn(batch)
        except TargetError as e:
            where = f"epoch {self.epoch}, step {self.step}" if batches.what.startswith("fit") else f"step {self.step}"
            raise TargetError(f"{batches.what}: {e} (at {where})") from None

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
        train, val = da.adapt_fit(train_data, validation_data=validation_data, validation_split=validation_split,
                                  batch_size=batch_size, shuffle=shuffle, generator=generator, spec=self.loss_spec)
        cbs = self.callbacks + list(callbacks)
        if self.scheduler is not None:
            cbs.insert(0, LearningRateScheduler(self.scheduler, self.scheduler_interval))
        if verbose and not any(isinstance(c, ProgressBar) for c in cbs):
            cbs.append(ProgressBar(verbose))
        self._callbacks = cb = CallbackList(cbs, self)
        self.params = {"epochs": epochs, "steps": train.num_batches, "verbose": verbose}
        self._train_batches, self.history, self.stop_training = train, History(), False
        self.labels_to_check = [b for b in (train, val) if b is not None and b.labels is not None]
        self.epoch = initial_epoch
        cb.on_train_begin({})
        if resume_from is not None:
            self._resume(resume_from)
        logs: dict = {}
        for epoch in range(self.epoch, epochs):
            if self.stop_training:
                break
            cb.on_epoch_begin(epoch, {})
            lr = float(self.optimizer.param_groups[0]["lr"])
            logs = self._train_epoch(train, cb)
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate(val).items()})
            logs["lr"] = lr
            self.history.append(epoch, logs)
            self.epoch, self._epoch_logs = epoch + 1, logs
            cb.on_epoch_end(epoch, logs)
            self.history.update_last(logs)  # what callbacks added or changed
            self._epoch_logs = None
        cb.on_train_end(logs)
        self._train_batches, self.labels_to_check = None, []
        return self.history

    def _train_epoch(self, train: da.Batches, cb: CallbackList) -> dict:
        """One epoch; resets ``train_metrics`` and ``accumulation`` first."""
        self.model.train()
        self.train_metrics.reset()
        self.accumulation.reset(train.num_batches)
        self.optimizer.zero_grad()
        skipped, step = 0, -1
        sums: dict[str, float] = {}  # batch logs of an overridden train_step, averaged over the epoch
        for step, (batch, is_last) in enumerate(da.with_last(train)):
            self.step = step
            self.accumulation.final = is_last
            cb.on_batch_begin(step, {})
            batch_logs = self._run_step(self.train_step, batch, train) or {}
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
            raise ValueError(f"{train.what}: no batches at epoch {self.epoch}")
        logs = {key: total / (step + 1 - skipped) for key, total in sums.items()}
        tracked = self.train_metrics
        if tracked.loss.weight or "loss" not in logs:  # the sample-weighted mean beats the mean of batch means
            logs["loss"] = tracked.loss.compute()
        for name, metric in tracked.metrics.items():
            value = metric.compute()
            if not (name in logs and isinstance(value, float) and math.isnan(value)):  # a custom step logged it
                logs[name] = value
        if self.on_nonfinite == "skip":
            logs["skipped_steps"] = skipped
        return logs

    # -- evaluate / predict ----------------------------------------------------------------------------
    def _evaluate(self, batches: da.Batches) -> dict:
        """``test_step`` over ``batches`` in eval mode under ``no_grad``; resets ``eval_metrics`` first."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        self.eval_metrics.reset()
        train_step_index = self.step
        try:
            with no_grad():
                for step, batch in enumerate(batches):
                    self.step = step
                    self._run_step(self.test_step, batch, batches)
            return self.eval_metrics.result(with_loss=self.loss_spec is not None)
        finally:
            self.step = train_step_index
            self.model.train(was_training)

    def evaluate(self, data, *, batch_size: int | None = None) -> dict:
        """``{"loss": mean loss per sample, <metric>: value}`` over ``data`` (model in eval mode, no_grad)."""
        if self.loss_spec is None and not self.metrics:
            raise ValueError("evaluate: the Trainer has neither a loss nor metrics")
        return self._evaluate(da.adapt(data, "evaluate: data", batch_size=batch_size, spec=self.loss_spec))

    def predict(self, data, *, batch_size: int | None = None):
        """The model's outputs for every sample of ``data``, concatenated along dim 0 (eval mode, no_grad)."""
        batches = da.adapt(data, "predict: data", batch_size=batch_size)
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        try:
            with no_grad():
                outputs = [self.predict_step(batch) for batch in batches]
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("predict: the data produced no batches")
        return da.concat_outputs(outputs)

    # -- checkpoints ---------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write everything needed to resume this run exactly (atomically)."""
        if self._epoch_logs is not None:  # saved from on_epoch_end: the logs as callbacks left them so far
            self.history.update_last(self._epoch_logs)
        gen = getattr(self._train_batches.loader if self._train_batches else None, "generator", None)
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
        gen = getattr(self._train_batches.loader, "generator", None)
        if isinstance(gen, Generator) and state.get("loader_generator") is not None:
            gen.set_state(state["loader_generator"])
        if self._callbacks is not None:
            self._callbacks.load_state_dict(extra.get("callbacks") or {})


def fit(model, train_data, *, loss, optimizer, epochs: int = 1, batch_size: int | None = None,
        validation_data=None, validation_split: float | None = None, metrics: Any = None,
        callbacks: Iterable[Callback] = (), scheduler=None, scheduler_interval: str = "epoch",
        grad_accumulation_steps: int = 1, clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
        shuffle: bool = True, seed: int | None = None, verbose: int = 1, on_nonfinite: str = "raise",
        initial_epoch: int = 0, resume_from=None) -> History:
    """Train ``model`` on ``train_data`` and return the ``History`` of per-epoch logs.

    The Keras-style loop in one call: ``Trainer(model, loss, optimizer, metrics, ...).fit(train_data, ...)``.
    Each epoch shuffles the data, runs ``train_step`` on every batch (forward, loss, backward, optimizer
    step), then evaluates the validation data; ``history[name]`` holds one value per epoch.

        history = fit(model, (X, y), loss="cross_entropy", optimizer=optim.Adam(model.parameters()),
                      epochs=10, batch_size=32, validation_split=0.2, metrics=["accuracy"])

    Args:
        model: the ``nn.Module`` to train (put in training mode for training, eval mode to evaluate).
        train_data: ``(X, y)`` tensors or arrays (X: (N, *) inputs, y: (N,) class indices or (N, *)
            targets), a ``Dataset`` of ``(x, y)`` pairs, or a ``DataLoader``.
        loss: a loss Module (``nn.CrossEntropyLoss()``), a function ``(outputs, targets) -> scalar`` or a
            name: ``'cross_entropy'``, ``'nll_loss'``, ``'mse'``, ``'l1'``, ``'bce'``, ``'bce_with_logits'``...
        optimizer: a ``shendu.optim`` optimizer over ``model.parameters()``.
        epochs: train until this many epochs are done in total (counting ``initial_epoch`` and any
            resumed ones). Default: 1.
        batch_size: samples per batch for tensors, arrays and Datasets (default 32); must be None with a
            DataLoader, which batches itself.
        validation_data: ``(X, y)``, a Dataset or a DataLoader evaluated after every epoch (logs ``val_loss``
            and ``val_<metric>``).
        validation_split: instead, hold out this fraction (the last samples, taken before shuffling) of
            ``train_data`` (tensors, arrays or a Dataset) for validation.
        metrics: metric names (``'accuracy'``, ``'mse'``, ``'mae'``, ``'perplexity'``, any ``shendu.metrics``
            name), ``Metric`` objects or functions ``fn(y_true, y_pred)``. Default None: accuracy for losses
            that take class indices, none otherwise.
        callbacks: ``Callback`` objects (``EarlyStopping``, ``ModelCheckpoint``, ``CSVLogger``, ...).
        scheduler: an LR scheduler from ``shendu.optim.lr_scheduler``, stepped once per epoch after
            validation (``ReduceLROnPlateau`` is given ``val_loss``, or ``loss`` without validation).
        scheduler_interval: ``'epoch'`` (default) or ``'step'``: step the scheduler after every optimizer step.
        grad_accumulation_steps: micro-batches whose gradients are summed before each optimizer step
            (k batches of n act as one batch of k*n). Default: 1.
        clip_grad_norm: clip the gradients' total 2-norm to this value before each step (None: no clipping).
        clip_grad_value: clip every gradient element to [-value, value] before each step (None: no clipping).
        shuffle: reshuffle tensors, arrays and Datasets every epoch (a DataLoader keeps its own setting).
            Default: True.
        seed: seed shendu's, NumPy's and Python's generators and the shuffling, so a run repeats exactly.
        verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch (bars only on a terminal).
        on_nonfinite: ``'raise'`` (default: a NaN or inf loss raises FloatingPointError naming the epoch and
            step) or ``'skip'`` (that batch makes no update; ``history['skipped_steps']`` counts them).
        initial_epoch: the index of the first epoch to run (to continue a run by hand). Default: 0.
        resume_from: a checkpoint file, a folder holding ``last.safetensors`` (what ``ModelCheckpoint``
            writes) or a ``ModelCheckpoint``: restores weights, optimizer, scheduler, random streams,
            epoch, history and callback states, so the run ends exactly as an uninterrupted one would.

    Returns:
        a ``History``: ``history['loss']``, ``history['val_loss']``, ... one float per epoch.
    """
    trainer = Trainer(model, loss, optimizer, metrics, scheduler=scheduler, scheduler_interval=scheduler_interval,
                      grad_accumulation_steps=grad_accumulation_steps, clip_grad_norm=clip_grad_norm,
                      clip_grad_value=clip_grad_value, on_nonfinite=on_nonfinite)
    return trainer.fit(train_data, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                       validation_split=validation_split, callbacks=callbacks, shuffle=shuffle, seed=seed,
                       verbose=verbose, initial_epoch=initial_epoch, resume_from=resume_from)


def evaluate(model, data, *, loss: Any = None, metrics: Any = None, batch_size: int | None = None) -> dict:
    """The mean loss and the metrics of ``model`` over ``data``, in eval mode under ``no_grad``.

    ``data`` is ``(X, y)``, a Dataset or a DataLoader (as in ``fit``); ``loss`` and ``metrics`` as in ``fit``;
    ``batch_size`` for tensors and Datasets (default 32). Returns ``{"loss": ..., <metric>: ...}``.
    """
    return Trainer(model, loss, None, metrics).evaluate(data, batch_size=batch_size)


def predict(model, data, *, batch_size: int | None = None):
    """``model``'s outputs for every sample of ``data``, concatenated along dim 0 (eval mode, ``no_grad``).

    ``data`` is inputs X of shape (N, *), ``(X, y)``, a Dataset or a DataLoader; ``batch_size`` for tensors
    and Datasets (default 32). Shape: (N, *output shape).
    """
    return Trainer(model).predict(data, batch_size=batch_size)
