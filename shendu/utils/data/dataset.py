"""PyTorch's path ``torch.utils.data.dataset``; the implementation is ``shendu.data.dataset``."""
from shendu.data.dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split

__all__ = ["ConcatDataset", "Dataset", "IterableDataset", "Subset", "TensorDataset", "random_split"]
