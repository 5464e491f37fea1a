"""``shendu.train``: a Keras-style ``fit``/``evaluate``/``predict`` loop with callbacks and checkpoints."""
from shendu.train.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    JSONLLogger,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from shendu.train.history import History
from shendu.train.state import EpochMetrics, GradientAccumulation
from shendu.train.trainer import Trainer, evaluate, fit, predict

__all__ = [
    "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "EpochMetrics", "GradientAccumulation", "History",
    "JSONLLogger", "LearningRateScheduler", "ModelCheckpoint", "ProgressBar", "TerminateOnNaN", "Trainer", "evaluate",
    "fit", "predict",
]
