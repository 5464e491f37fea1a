"""Data: PyTorch's ``torch.utils.data`` (datasets, samplers, ``DataLoader``), splitters for model
selection, transforms, and built-in datasets that need no download."""
from shendu.data import transforms
from shendu.data.dataloader import DataLoader, default_collate, default_convert, get_worker_info
from shendu.data.dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from shendu.data.datasets import (
    ByteTokenizer,
    CharDataset,
    CharTokenizer,
    Corpus,
    gaussian_blobs,
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    sin_curve,
    spirals,
    stdlib_corpus,
    two_moons,
    xor,
)
from shendu.data.distributed import DistributedSampler
from shendu.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from shendu.data.splits import KFold, LeaveOneOut, StratifiedKFold, standardize, train_val_test_split

__all__ = [
    "BatchSampler", "ByteTokenizer", "CharDataset", "CharTokenizer", "ConcatDataset", "Corpus", "DataLoader",
    "Dataset", "DistributedSampler", "IterableDataset", "KFold", "LeaveOneOut", "RandomSampler", "Sampler",
    "SequentialSampler",
    "StratifiedKFold", "Subset", "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler",
    "default_collate", "default_convert", "gaussian_blobs", "get_worker_info", "load_breast_cancer", "load_diabetes",
    "load_digits",
    "load_iris", "load_wine", "random_split", "sin_curve", "spirals", "standardize", "stdlib_corpus",
    "train_val_test_split",
    "transforms", "two_moons", "xor",
]
