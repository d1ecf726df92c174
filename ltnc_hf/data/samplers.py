"""Re-sampling for long-tailed training: class-balanced and square-root sampling (Kang et al., 2020, "Decoupling
Representation and Classifier"; Mahajan et al., 2018), seeded and shardable across processes.

Class-aware sampling draws a class `c` with probability `p_c ∝ n_c ** q` and then one of its examples uniformly,
with replacement: `q = 0` is class-balanced sampling, `q = 1/2` square-root sampling (`q = 1` would be plain
instance sampling). Each epoch's draw comes from a local `torch.Generator` seeded from `(seed, epoch)`, so every
process computes the same global sequence; like `DistributedSampler`, rank `r` of `R` takes positions
`r, r + R, r + 2R, ...` of it (padded by wrapping around to a multiple of `R`, or truncated with `drop_last`).

With the `Trainer` (accelerate), keep `num_replicas=1`: accelerate already shards the batches of the sampler across
processes, and a sampler that shards as well would give each process only `1/R` of its share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler, Sampler

__all__ = ["SAMPLER_TYPES", "CLASS_AWARE_MODES", "ClassAwareSampler", "create_sampler"]

SAMPLER_TYPES = ("random", "class_balanced", "sqrt")
CLASS_AWARE_MODES = {"balanced": 0.0, "sqrt": 0.5}


def _resolve_replicas(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if initialised else 1
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"rank={rank} must be in [0, num_replicas={num_replicas}) and num_replicas >= 1.")
    return int(num_replicas), int(rank)


def _as_label_array(labels: Any, label_column: str = "label") -> np.ndarray:
    if hasattr(labels, "column_names"):  # a datasets.Dataset
        from .long_tail import get_labels

        return get_labels(labels, label_column)
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer) or array.min() < 0:
        raise ValueError(
            f"labels must be a non-empty 1-D sequence of class ids >= 0, got shape {array.shape}, dtype {array.dtype}."
        )
    return array.astype(np.int64, copy=False)


class ClassAwareSampler(Sampler[int]):
    """Class-balanced (`mode="balanced"`) or square-root (`mode="sqrt"`) sampling of dataset indices.

    Args:
        labels (`Sequence[int]`, `np.ndarray` or `torch.Tensor` of shape `(num_examples,)`): class id per example.
        mode (`str`, *optional*, defaults to `"balanced"`): `"balanced"` (`p_c` uniform over the classes present) or
            `"sqrt"` (`p_c ∝ sqrt(n_c)`).
        num_samples (`int`, *optional*): size of the global draw per epoch (all processes together); defaults to
            `len(labels)`.
        num_replicas (`int`, *optional*), rank (`int`, *optional*): sharding, as in `DistributedSampler`; default to
            the `torch.distributed` world size and rank (1 and 0 when it is not initialised).
        seed (`int`, *optional*, defaults to 0): with the epoch, fixes the draw.
        drop_last (`bool`, *optional*, defaults to `False`): truncate the global draw to a multiple of
            `num_replicas` instead of padding it.

    Example:

    ```python
    sampler = ClassAwareSampler(train["label"], mode="sqrt", seed=0)
    sampler.set_epoch(epoch)  # a new draw every epoch
    ```
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        mode: str = "balanced",
        num_samples: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if mode not in CLASS_AWARE_MODES:
            raise ValueError(f"Unknown mode {mode!r}; expected one of {tuple(CLASS_AWARE_MODES)}.")
        labels = _as_label_array(labels)
        self.mode = mode
        self.seed = int(seed)
        self.epoch = 0
        self.drop_last = drop_last
        self.num_replicas, self.rank = _resolve_replicas(num_replicas, rank)
        self.total_draws = len(labels) if num_samples is None else int(num_samples)
        if self.total_draws < 1:
            raise ValueError(f"num_samples={num_samples} must be >= 1.")
        if drop_last:
            self.num_samples = self.total_draws // self.num_replicas
            if self.num_samples == 0:
                raise ValueError(
                    f"drop_last=True with num_samples={self.total_draws} < num_replicas={self.num_replicas} leaves no "
                    "samples; draw more samples or set drop_last=False."
                )
        else:
            self.num_samples = math.ceil(self.total_draws / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

        counts = np.bincount(labels)
        self.class_counts = torch.as_tensor(counts, dtype=torch.long)
        weights = np.where(counts > 0, counts.astype(np.float64) ** CLASS_AWARE_MODES[mode], 0.0)
        self.class_probs = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
        # Indices grouped by class: class c occupies sorted_indices[offsets[c] : offsets[c] + counts[c]].
        self._sorted_indices = torch.as_tensor(np.argsort(labels, kind="stable"), dtype=torch.long)
        self._offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)[:-1]]), dtype=torch.long)

    def set_epoch(self, epoch: int) -> None:
        """Use the draw of `epoch` (call at the start of each epoch, on every process)."""
        self.epoch = int(epoch)

    def _generator(self) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, dtype=np.uint64)[0]
        return torch.Generator().manual_seed(int(state))

    def global_indices(self) -> torch.Tensor:
        """The epoch's whole draw of `num_samples` indices, before padding and sharding (same on every process).

        Returns:
            `torch.Tensor` of shape `(num_samples,)`, dtype int64.
        """
        g = self._generator()
        classes = torch.multinomial(self.class_probs, self.total_draws, replacement=True, generator=g)
        u = torch.rand(self.total_draws, generator=g, dtype=torch.float64)
        sizes = self.class_counts[classes]
        within = torch.minimum((u * sizes).long(), sizes - 1)
        return self._sorted_indices[self._offsets[classes] + within]

    def __iter__(self):
        indices = self.global_indices()
        if self.total_size > len(indices):
            repeats = math.ceil(self.total_size / len(indices))
            indices = indices.repeat(repeats)
        indices = indices[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples


def create_sampler(
    name: str,
    labels: Any,
    *,
    seed: int = 0,
    num_samples: int | None = None,
    num_replicas: int | None = None,
    rank: int | None = None,
    drop_last: bool = False,
    label_column: str = "label",
) -> Sampler[int]:
    """A training sampler by name: `"random"` (a seeded `DistributedSampler` over all examples, shuffled per epoch),
    `"class_balanced"` or `"sqrt"` ([`ClassAwareSampler`]).

    Args:
        name (`str`): one of `SAMPLER_TYPES`.
        labels: labels (`(num_examples,)`) or a `datasets.Dataset` whose `label_column` holds them.
        seed, num_replicas, rank, drop_last: as in [`ClassAwareSampler`]; all samplers have `set_epoch`.
        num_samples (`int`, *optional*): global draws per epoch (class-aware samplers only).

    Returns:
        `torch.utils.data.Sampler[int]`.
    """
    if name not in SAMPLER_TYPES:
        raise ValueError(f"Unknown sampler {name!r}; expected one of {SAMPLER_TYPES}.")
    labels = _as_label_array(labels, label_column)
    num_replicas, rank = _resolve_replicas(num_replicas, rank)
    if name == "random":
        if num_samples is not None:
            raise ValueError("num_samples does not apply to the 'random' sampler (one pass over the data per epoch).")
        return DistributedSampler(
            range(len(labels)), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=drop_last
        )
    mode = "balanced" if name == "class_balanced" else "sqrt"
    return ClassAwareSampler(
        labels,
        mode=mode,
        num_samples=num_samples,
        num_replicas=num_replicas,
        rank=rank,
        seed=seed,
        drop_last=drop_last,
    )
