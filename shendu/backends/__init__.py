"""``shendu.backends``: PyTorch's ``torch.backends`` flags, reporting what shendu actually uses.

shendu computes with NumPy (BLAS through whatever library NumPy links) and, on a GPU, with CuPy. It
has no cuDNN, MPS, MKL-DNN or NNPACK code of its own, so their ``is_available()`` is False; their
settable flags (``cudnn.benchmark = True``, ``cudnn.deterministic = True``,
``cuda.matmul.allow_tf32 = False``) are accepted and kept, and change nothing.
"""
from shendu.backends import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp"]
