"""Callbacks: code that runs at fixed points of ``fit`` (Keras' callback protocol; see ``_base``)."""
from shendu.train.callbacks._base import Callback, CallbackList
from shendu.train.callbacks.early_stopping import EarlyStopping
from shendu.train.callbacks.loggers import CSVLogger, JSONLLogger
from shendu.train.callbacks.lr_scheduler import LearningRateScheduler
from shendu.train.callbacks.model_checkpoint import ModelCheckpoint
from shendu.train.callbacks.progress_bar import ProgressBar
from shendu.train.callbacks.set_epoch import SetEpoch
from shendu.train.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "JSONLLogger", "LearningRateScheduler",
           "ModelCheckpoint", "ProgressBar", "SetEpoch", "TerminateOnNaN"]
