"""``shendu.optim``: optimizers (PyTorch's ``torch.optim``), LR schedulers, weight averaging.

    opt = shendu.optim.Adam(model.parameters(), lr=1e-3)
    sched = shendu.optim.lr_scheduler.warmup_cosine(opt, warmup_steps=100, total_steps=10_000)
    for x, y in loader:
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step(); sched.step()
"""
from shendu.optim import lr_scheduler, swa_utils
from shendu.optim.adadelta import Adadelta
from shendu.optim.adagrad import Adagrad
from shendu.optim.adam import Adam, Adamax, AdamW, NAdam, RAdam
from shendu.optim.asgd import ASGD
from shendu.optim.lbfgs import LBFGS
from shendu.optim.lion import Lion
from shendu.optim.newton import NewtonCG
from shendu.optim.optimizer import Optimizer
from shendu.optim.rmsprop import RMSprop
from shendu.optim.rprop import Rprop
from shendu.optim.sgd import SGD
from shendu.optim.swa_utils import ExponentialMovingAverage

__all__ = [
    "ASGD", "LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "ExponentialMovingAverage", "Lion",
    "NAdam", "NewtonCG", "Optimizer", "RAdam", "RMSprop", "Rprop", "lr_scheduler", "swa_utils",
]
