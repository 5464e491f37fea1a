"""Writing custom datasets, DataLoaders and samplers (the data-loading tutorial, on synthetic data).

A map-style Dataset subclass of "landmark" samples (dicts) with composed transforms, the DataLoader
imported from its submodule, default collation of dicts, the samplers (sequential, random with
replacement drawing lazily from 10**10 as minGPT and makemore do, weighted for class balance,
batch), random_split, Subset, ConcatDataset, an IterableDataset, and worker processes with a
padding collate_fn.
"""
import math

import numpy as np

import shendu as torch
from shendu.nn.utils.rnn import pad_sequence
from shendu.utils.data import (
    BatchSampler,
    ConcatDataset,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)
from shendu.utils.data.dataloader import DataLoader
from shendu.utils.data.sampler import Sampler


class LandmarksDataset(Dataset):
    """Synthetic images with 4 landmark points each; sample i is a dict, as in the tutorial."""

    def __init__(self, n=40, transform=None):
        self.images = (np.arange(n * 3 * 8 * 8, dtype=np.float64).reshape(n, 8, 8, 3) % 255)
        self.landmarks = np.stack([np.arange(8, dtype=np.float64).reshape(4, 2) + i for i in range(n)])
        self.labels = np.arange(n) % 4
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        if torch.is_tensor(idx):
            idx = idx.tolist()
        sample = {"image": self.images[idx], "landmarks": self.landmarks[idx], "label": int(self.labels[idx])}
        if self.transform:
            sample = self.transform(sample)
        return sample


class Rescale:
    """Halve the landmark coordinates (stands in for skimage's resize)."""

    def __call__(self, sample):
        return {**sample, "landmarks": sample["landmarks"] / 2}


class ToTensor:
    """ndarrays in a sample to Tensors; H x W x C images become C x H x W."""

    def __call__(self, sample):
        image = sample["image"].transpose((2, 0, 1))
        return {"image": torch.from_numpy(image).float(), "landmarks": torch.from_numpy(sample["landmarks"]),
                "label": sample["label"]}


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, sample):
        for t in self.transforms:
            sample = t(sample)
        return sample


class EveryOther(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(0, len(self.data_source), 2))

    def __len__(self):
        return math.ceil(len(self.data_source) / 2)


class CountingStream(IterableDataset):
    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))


class Sentences(Dataset):
    """Variable-length token sequences with a label: sentence i has 1 + i % 5 tokens."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return torch.arange(1, 2 + i % 5) * (i + 1), i % 2


def collate_batch(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(list(seqs), batch_first=True, padding_value=0)
    return padded, lengths, torch.tensor(labels)


def main():
    torch.manual_seed(0)
    dataset = LandmarksDataset(transform=Compose([Rescale(), ToTensor()]))
    first = dataset[0]

    loader = DataLoader(dataset, batch_size=4, shuffle=False, num_workers=0)
    batches = list(loader)
    b0 = batches[0]
    sequential = {
        "n_batches": len(loader),
        "image_shape": tuple(b0["image"].shape),
        "landmarks": (tuple(b0["landmarks"].shape), b0["landmarks"].dtype == torch.float64),
        "labels": b0["label"].tolist(),
        "label_dtype": b0["label"].dtype == torch.int64,
        "sum_landmarks": sum(b["landmarks"].sum().item() for b in batches),
        "last_image_mean": batches[-1]["image"].mean().item(),
    }

    shuffled = DataLoader(dataset, batch_size=8, shuffle=True, drop_last=True)
    seen = sorted(i for b in shuffled for i in (2 * b["landmarks"][:, 0, 0]).long().tolist())

    # minGPT / makemore: an "infinite" random sampler, drawn lazily
    sampler = RandomSampler(dataset, replacement=True, num_samples=int(1e10))
    infinite = DataLoader(dataset, sampler=sampler, batch_size=5, pin_memory=False, num_workers=0)
    data_iter = iter(infinite)
    drawn = []
    for _ in range(20):
        try:
            batch = next(data_iter)
        except StopIteration:
            data_iter = iter(infinite)
            batch = next(data_iter)
        drawn.append(batch["label"])
    drawn = torch.cat(drawn)

    # class balance from an imbalanced dataset with inverse-frequency weights
    x = torch.arange(100, dtype=torch.float32).unsqueeze(1)
    y = (torch.arange(100) >= 90).long()  # 90 of class 0, 10 of class 1
    class_count = torch.bincount(y)
    weights = 1.0 / class_count.float()
    sample_weights = weights[y]
    wsampler = WeightedRandomSampler(sample_weights, num_samples=4000, replacement=True)
    wloader = DataLoader(TensorDataset(x, y), batch_size=100, sampler=wsampler)
    labels = torch.cat([yb for _, yb in wloader])
    balanced_fraction = labels.float().mean().item()

    no_repeat = list(WeightedRandomSampler([0.1, 0.2, 0.3, 0.4, 0.0], num_samples=4, replacement=False))

    bs = list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    bs_drop = list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=True))
    custom = [xb.view(-1).tolist() for (xb,) in DataLoader(TensorDataset(x[:10]), sampler=EveryOther(range(10)),
                                                             batch_size=2)]

    generator = torch.Generator().manual_seed(42)
    train_set, val_set = random_split(TensorDataset(x, y), [80, 20], generator=generator)
    frac_a, frac_b = random_split(range(10), [0.7, 0.3], generator=torch.Generator().manual_seed(1))
    subset = Subset(dataset, [1, 3, 5])
    concat = ConcatDataset([subset, TensorDataset(x[:2], y[:2])])
    stream = [b.tolist() for b in DataLoader(CountingStream(3, 10), batch_size=3)]

    # worker processes (threads in some frameworks) and a padding collate_fn, as NLP tutorials write it
    padded_loader = DataLoader(Sentences(), batch_size=4, shuffle=False, num_workers=2, collate_fn=collate_batch,
                               persistent_workers=True)
    padded = [(p.tolist(), n.tolist(), y.tolist()) for p, n, y in padded_loader]
    seeded = DataLoader(range(10), batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(3))
    seeded_epochs = [torch.cat(list(seeded)).sort().values.tolist() for _ in range(2)]
    return {
        "first": (tuple(first["image"].shape), first["landmarks"].tolist(), first["label"]),
        "len": len(dataset),
        "sequential": sequential,
        "shuffled_covers": seen == list(range(40)),
        "shuffled_len": (len(shuffled), len(seen)),
        "infinite": (len(sampler), len(drawn), int(drawn.min()), int(drawn.max())),
        "balanced_fraction": balanced_fraction,
        "no_repeat": (len(set(no_repeat)), 4 not in no_repeat),
        "batch_sampler": (bs, bs_drop),
        "custom_sampler": custom,
        "split": (len(train_set), len(val_set), len(frac_a), len(frac_b),
                  sorted(list(frac_a) + list(frac_b)) == list(range(10))),
        "subset_concat": (len(subset), subset[2]["label"], len(concat), concat[4][1].item()),
        "stream": stream,
        "padded": padded,
        "seeded_epochs": seeded_epochs,
    }


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key}: {value}")
