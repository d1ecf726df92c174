"""Running class means of the penultimate features, for SpA.

The SpA paper (AAAI 2026) aligns each classifier weight with its centred class mean `mu_c - mu_G` but does not say
how the means are estimated during training. Tail classes are often absent from a batch, so a batch-only estimate is
undefined for them. This tracker keeps one running mean per class:

* `momentum=0.9` (default): an exponential moving average updated only for the classes present in the batch,
  `mu_c <- momentum * mu_c + (1 - momentum) * batch_mean_c`, bias-corrected like Adam (the `t`-th update of a class
  uses the weight `(1 - momentum) / (1 - momentum^t)`, so its first update sets the mean to the batch mean instead of
  shrinking it towards zero). Cheap, follows the drifting features, and keeps a value for absent classes.
* `momentum=None`: exact accumulation, `mu_c` = mean of all samples of class `c` seen since the last `reset()`
  (call it at the start of every epoch for per-epoch means).

After `reset()`, the next batch that contains a class replaces its mean; until then the previous mean is kept, so a
tail class does not drop out at the start of an epoch. `momentum` is the weight of the *old* value (the opposite of
`torch.nn.BatchNorm`'s convention).

Distributed training: when `torch.distributed` is initialised, `update` all-reduces (sums) the per-class feature
sums and counts of the local batch over the processes *before* forming batch means, so every process applies the
same update from the global batch and holds identical means. Every process must call `update` at the same steps.
The state lives in persistent buffers (`means`, `counts`, `num_updates`, `seen`): it is saved with the model or the
trainer's checkpoint through `state_dict()`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ._base import check_labels

__all__ = ["ClassMeanTracker"]


class ClassMeanTracker(nn.Module):
    """Running per-class feature means (EMA or per-epoch accumulation), synchronised across processes.

    Args:
        num_classes (`int`): number of classes `K`.
        feature_dim (`int`): feature dimension `d`.
        momentum (`float` or `None`, *optional*, defaults to 0.9):
            EMA weight of the previous mean in `[0, 1)`; `None` for exact accumulation until `reset()`.
        distributed (`bool`, *optional*, defaults to `True`):
            All-reduce the batch statistics when `torch.distributed` is initialised.

    Attributes (buffers, saved in `state_dict`):
        means (`torch.Tensor` of shape `(K, d)`, float32): the running class means (zero for unseen classes).
        counts (`torch.Tensor` of shape `(K,)`, int64): samples accumulated per class since the last `reset()`.
        num_updates (`torch.Tensor` of shape `(K,)`, int64): batches that contained the class since the last reset.
        seen (`torch.Tensor` of shape `(K,)`, bool): whether the class has a mean.
    """

    means: torch.Tensor
    counts: torch.Tensor
    num_updates: torch.Tensor
    seen: torch.Tensor

    def __init__(
        self, num_classes: int, feature_dim: int, *, momentum: float | None = 0.9, distributed: bool = True
    ) -> None:
        super().__init__()
        if num_classes < 1 or feature_dim < 1:
            raise ValueError(f"Need num_classes >= 1 and feature_dim >= 1, got {num_classes=}, {feature_dim=}.")
        if momentum is not None and not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"`momentum` must be in [0, 1) (weight of the previous mean) or None for epoch accumulation, got "
                f"{momentum}."
            )
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.momentum = None if momentum is None else float(momentum)
        self.distributed = bool(distributed)
        self.register_buffer("means", torch.zeros(num_classes, feature_dim, dtype=torch.float32))
        self.register_buffer("counts", torch.zeros(num_classes, dtype=torch.int64))
        self.register_buffer("num_updates", torch.zeros(num_classes, dtype=torch.int64))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Fold a batch into the running means (classes absent from the (global) batch are left unchanged).

        Args:
            features (`torch.Tensor` of shape `(batch, feature_dim)`): penultimate features (detached here).
            labels (`torch.Tensor` of shape `(batch,)`): their class ids.
        """
        if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[1] != self.feature_dim:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(
                f"`features` must have shape (batch, {self.feature_dim}), got {shape}; build the tracker with the "
                "model's `feature_dim`."
            )
        check_labels(labels, self.num_classes, features.shape[0])
        device = self.means.device
        feats = features.detach().to(device=device, dtype=torch.float32)
        labels = labels.to(device)
        ones = torch.ones_like(labels, dtype=torch.float32)
        sums = None
        if self.distributed and dist.is_available() and dist.is_initialized():
            # one all-reduce of the per-class sums and counts; every process then applies the same update
            stats = torch.zeros(self.num_classes, self.feature_dim + 1, dtype=torch.float32, device=device)
            stats[:, : self.feature_dim].index_add_(0, labels, feats)
            stats[:, self.feature_dim].index_add_(0, labels, ones)
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
            sums, batch_counts = stats[:, : self.feature_dim], stats[:, self.feature_dim]
        else:
            batch_counts = torch.zeros(self.num_classes, dtype=torch.float32, device=device).index_add_(
                0, labels, ones
            )
        present = batch_counts > 0

        new_updates = self.num_updates + present.long()
        if self.momentum is None:
            total = self.counts.to(torch.float32) + batch_counts
            rate = batch_counts / total.clamp_min(1.0)
        else:
            correction = 1.0 - torch.pow(torch.full_like(batch_counts, self.momentum), new_updates.clamp_min(1))
            rate = (1.0 - self.momentum) / correction.clamp_min(torch.finfo(torch.float32).tiny)
        rate = torch.where(present, rate, torch.zeros_like(rate))
        # mu_c <- mu_c + rate_c * (batch_mean_c - mu_c) = mu_c + (rate_c / n_c) * sum_{i in c} (h_i - mu_c)
        scale = rate / batch_counts.clamp_min(1.0)
        if sums is None:  # per-sample form: touches only the rows of the classes in the batch
            delta = (feats - self.means[labels]) * scale[labels].unsqueeze(1)
            self.means.index_add_(0, labels, delta)
        else:
            self.means.add_(scale.unsqueeze(1) * sums - rate.unsqueeze(1) * self.means)
        self.counts.add_(batch_counts.round().long())
        self.num_updates.copy_(new_updates)
        self.seen.logical_or_(present)

    def reset(self) -> None:
        """Start a new accumulation window: the next batch containing a class replaces its mean (kept until then)."""
        self.counts.zero_()
        self.num_updates.zero_()

    def global_mean(self) -> torch.Tensor:
        """`mu_G`, the mean of the seen class means (not the sample mean), shape `(feature_dim,)`."""
        weights = self.seen.to(self.means.dtype)
        return (weights @ self.means) / weights.sum().clamp_min(1.0)

    def centered_means(self) -> torch.Tensor:
        """Centred class means `mu_c - mu_G` of shape `(num_classes, feature_dim)`; rows of unseen classes are zero."""
        return (self.means - self.global_mean()).mul_(self.seen.to(self.means.dtype).unsqueeze(1))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, momentum={self.momentum}"
