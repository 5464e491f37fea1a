"""``shendu.nn.utils``: parameter-vector conversion and gradient clipping (PyTorch's ``torch.nn.utils``)."""
from shendu.nn.utils import rnn  # noqa: F401  (torch.nn.utils.rnn)
from shendu.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from shendu.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
