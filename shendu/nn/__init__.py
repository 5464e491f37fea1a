"""``shendu.nn``: modules, layers, losses and initializers (PyTorch's ``torch.nn``).

Every layer is exported here under its ``torch.nn`` name; the families live in ``shendu/nn/layers/``.
"""
# ruff: noqa: I001  (the imports are grouped by family, not sorted: each family owns its lines)
from shendu.nn import functional, init  # noqa: F401
from shendu.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from shendu.nn.layers.activation import (
    CELU, ELU, GELU, GLU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax,
    Maxout, Mish, PReLU, RReLU, ReLU, ReLU6, SELU, SiLU, Sigmoid, Softmax, Softmax2d, Softmin, Softplus, Softshrink,
    Softsign, Tanh, Tanhshrink, Threshold,
)
from shendu.nn.layers.dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Bilinear, Flatten, Identity, Linear, Unflatten
from shendu.nn.layers.residual import Residual
from shendu.nn.module import Buffer, Module
from shendu.nn.parameter import Parameter
from shendu.nn.summary import summary

# ---- layers, losses and penalties from the other families (each helper adds its own lines) ----
from shendu.nn.layers.normalization import (  # noqa: I001
    BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm, RMSNorm,
)
from shendu.nn import penalties  # noqa: F401
from shendu.nn.losses import (  # noqa: I001
    BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, GaussianNLLLoss, HingeEmbeddingLoss,
    HuberLoss, KLDivLoss, L1Loss, MarginRankingLoss, MSELoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
    MultiMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss, TripletMarginLoss,
    TripletMarginWithDistanceLoss,
)
from shendu.nn.layers.distance import CosineSimilarity, PairwiseDistance  # noqa: I001
from shendu.nn.layers.pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: I001
from shendu.nn.layers.conv import (  # noqa: I001
    Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Fold, Unfold,
)
from shendu.nn.layers.pooling import (  # noqa: I001
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d,
    MaxPool2d,
)
from shendu.nn.layers.upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: I001
from shendu.nn.layers.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: I001
from shendu.nn.layers.attention import AdditiveAttention, DotProductAttention  # noqa: I001
from shendu.nn.layers.multihead import MultiheadAttention  # noqa: I001
from shendu.nn.layers.positional import (  # noqa: I001
    LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding,
)
from shendu.nn.layers.transformer import (  # noqa: I001
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)
# ---- end of the other families' block ----

from shendu.nn import utils  # noqa: E402,F401,I001  (utils.clip_grad may use the names above)
from shendu.nn import parallel  # noqa: E402,F401,I001
from shendu.nn import lora  # noqa: E402,F401,I001  (LoRA adapters: shendu.nn.lora.apply_lora)
from shendu.nn.parallel import DataParallel, SyncBatchNorm  # noqa: E402,I001

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Bilinear", "Buffer", "CELU", "Dropout", "Dropout1d",
    "Dropout2d", "Dropout3d", "ELU", "Embedding", "Flatten", "GELU", "GLU", "GroupNorm", "Hardshrink", "Hardsigmoid",
    "Hardswish", "Hardtanh", "Identity", "LayerNorm", "LeakyReLU", "Linear", "LogSigmoid", "LogSoftmax",
    "Maxout", "Mish", "Module", "ModuleDict", "ModuleList", "PReLU", "Parameter", "ParameterDict",
    "ParameterList", "RMSNorm", "RReLU", "ReLU", "ReLU6", "Residual", "SELU", "Sequential", "SiLU", "Sigmoid",
    "Softmax", "Softmax2d", "Softmin", "Softplus", "Softshrink", "Softsign", "Tanh", "Tanhshrink",
    "Threshold", "Unflatten", "functional", "init",
    "penalties", "summary", "utils", "DataParallel", "SyncBatchNorm", "parallel",
    "BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HingeEmbeddingLoss", "HuberLoss",
    "KLDivLoss", "L1Loss", "MSELoss", "MultiMarginLoss", "NLLLoss", "SmoothL1Loss",
    "CosineSimilarity", "GaussianNLLLoss", "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
    "PairwiseDistance", "PixelShuffle", "PixelUnshuffle", "PoissonNLLLoss", "SoftMarginLoss", "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d",
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Fold", "MaxPool1d", "MaxPool2d", "Unfold", "Upsample",
    "UpsamplingBilinear2d", "UpsamplingNearest2d",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase",
    "AdditiveAttention", "DotProductAttention", "MultiheadAttention",
    "LearnedPositionalEmbedding", "RotaryEmbedding", "SinusoidalPositionalEncoding",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
]
