"""A mixture of datasets drawn with given proportions (e.g. Human3.6M 0.7 + UP-3D 0.3).

:class:`MixtureDataset` is a map-style dataset of a fixed ``length``: position i is assigned to
one of the datasets so that dataset k gets exactly ``round(p_k * length)`` positions (largest
remainders), in a seeded random interleaving; the positions of dataset k walk through a seeded
permutation of it, wrapping around when it is smaller than its share. :meth:`set_epoch`
reshuffles (call it once per epoch, like ``DistributedSampler.set_epoch``), so the mixture
composes with any sampler, including a distributed one. Every sample gets ``dataset_index``.

:func:`mixture_sampler` is the alternative over a ``ConcatDataset``: a
``WeightedRandomSampler`` whose weights give each dataset its proportion in expectation.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["MixtureDataset", "mixture_counts", "mixture_sampler"]


def _check_proportions(datasets: Sequence[Any], proportions: Sequence[float]) -> np.ndarray:
    if len(datasets) == 0:
        raise ValueError("a mixture needs at least one dataset")
    p = np.asarray(proportions, dtype=np.float64)
    if p.shape != (len(datasets),):
        raise ValueError(f"{len(datasets)} datasets need {len(datasets)} proportions, got {list(proportions)}")
    if not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"proportions must be non-negative with a positive sum, got {list(proportions)}")
    for k, dataset in enumerate(datasets):
        if p[k] > 0 and len(dataset) == 0:
            raise ValueError(f"dataset {k} is empty but has proportion {p[k]}")
    return p / p.sum()


def mixture_counts(proportions: Sequence[float], length: int) -> np.ndarray:
    """Integer counts summing to ``length``, closest to ``p * length`` (largest remainders).

    proportions : (K,) float (normalised here); returns (K,) int64.
    """
    p = np.asarray(proportions, dtype=np.float64)
    p = p / p.sum()
    exact = p * int(length)
    counts = np.floor(exact).astype(np.int64)
    remainder = int(length) - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts


class MixtureDataset(torch.utils.data.Dataset):
    """Datasets mixed with fixed proportions.

    Parameters
    ----------
    datasets : sequence of map-style datasets
    proportions : sequence of float
        one per dataset, normalised to sum 1 (zero drops a dataset).
    length : int, optional
        samples per epoch (default: the largest ``len(dataset_k) / p_k``, so that every dataset
        is seen at least once per epoch at its proportion; give ``length`` explicitly when a
        small dataset with a large share would make that too long).
    seed : int
    keys : sequence of str, optional
        keep only these keys of every sample (so that datasets with different extra keys
        collate together); a sample lacking one raises ``KeyError`` naming the dataset.
    """

    def __init__(self, datasets: Sequence[Any], proportions: Sequence[float], length: int | None = None,
                 seed: int = 0, keys: Sequence[str] | None = None) -> None:
        super().__init__()
        self.datasets = list(datasets)
        self.proportions = _check_proportions(self.datasets, proportions)
        if length is None:
            length = max(int(np.ceil(len(d) / p)) for d, p in zip(self.datasets, self.proportions) if p > 0)
        self.length = int(length)
        if self.length <= 0:
            raise ValueError(f"length must be positive, got {length}")
        self.seed = int(seed)
        self.keys = None if keys is None else tuple(keys)
        self.counts = mixture_counts(self.proportions, self.length)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw the interleaving and the per-dataset orders of ``epoch`` (deterministic)."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        owner = np.repeat(np.arange(len(self.datasets)), self.counts)
        rng.shuffle(owner)
        self._owner = owner
        self._position = np.zeros(self.length, dtype=np.int64)
        # the j-th occurrence of dataset k reads element order_k[(offset_k + j) % len_k]
        self._sample = np.zeros(self.length, dtype=np.int64)
        for k, dataset in enumerate(self.datasets):
            where = np.flatnonzero(owner == k)
            if len(where) == 0:
                continue
            n = len(dataset)
            order = rng.permutation(n)
            offset = int(rng.integers(n))
            self._sample[where] = order[(offset + np.arange(len(where))) % n]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int) -> dict[str, Any]:
        if not -self.length <= item < self.length:
            raise IndexError(f"index {item} out of range for a mixture of length {self.length}")
        item = item % self.length
        k = int(self._owner[item])
        sample = self.datasets[k][int(self._sample[item])]
        if self.keys is not None:
            missing = [key for key in self.keys if key not in sample]
            if missing:
                raise KeyError(f"dataset {k} ({getattr(self.datasets[k], 'name', type(self.datasets[k]).__name__)}) "
                               f"gives no key(s) {missing}")
            sample = {key: sample[key] for key in self.keys}
        else:
            sample = dict(sample)
        sample["dataset_index"] = k
        return sample


def mixture_sampler(datasets: Sequence[Any], proportions: Sequence[float], num_samples: int,
                    generator: torch.Generator | None = None) -> torch.utils.data.WeightedRandomSampler:
    """A sampler over ``ConcatDataset(datasets)`` drawing dataset k with probability ``p_k``.

    Each element of dataset k gets weight ``p_k / len(dataset_k)``; draws are with replacement.
    """
    p = _check_proportions(datasets, proportions)
    weights = np.concatenate([np.full(len(d), p_k / max(len(d), 1)) for d, p_k in zip(datasets, p)])
    return torch.utils.data.WeightedRandomSampler(torch.from_numpy(weights), int(num_samples), replacement=True,
                                                  generator=generator)
