"""INC: the NC1 and NC2 regularisers of "Inducing Neural Collapse in Deep Long-tailed Learning".

Liu et al., AISTATS 2023, and the official code (Pepper-lll/NCfeature, `losses.py`):

* NC1 (a modified centre loss with learnable class means `mu_k`): for the classes present in the batch,
  `NC1 = (1/K) sum_k (1/n_k) sum_{i: y_i = k} ||h_i - mu_k||^2`, where `n_k` is the batch count of class `k`
  (classes absent from the batch contribute 0).
* NC2 ("v0", the code's default, max-cosine form): centre the learnable means on their average, normalise, and
  maximise the average over classes of the smallest angle to another class,
  `NC2 = -(1/K) sum_k arccos(clamp(max_{k' != k} cos(mu~_k, mu~_k'), -0.99999, 0.99999))`.

The total added to the supervised loss is `nc1_weight * NC1 + nc2_weight * NC2` (0.01 and 0.1 in the paper). The
means are parameters of this module: give them to the optimizer together with the model's. Mixup: the NC1 term is
`lam * NC1(labels) + (1 - lam) * NC1(labels_b)`; NC2 does not depend on labels. The means are initialised from a
standard normal drawn from a local generator seeded with `seed` (the code draws from the global RNG).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._base import check_labels, check_lam

__all__ = ["INCLoss"]

_COS_CLAMP = 0.99999


class INCLoss(nn.Module):
    """NC1 + NC2 regularisers with learnable class means.

    Args:
        num_classes (`int`): number of classes `K` (>= 2).
        feature_dim (`int`): feature dimension `d`.
        nc1_weight (`float`, *optional*, defaults to 0.01): weight of the NC1 term.
        nc2_weight (`float`, *optional*, defaults to 0.1): weight of the NC2 term.
        seed (`int`, *optional*, defaults to 0): seed of the means' initialisation.

    Attributes:
        means (`nn.Parameter` of shape `(num_classes, feature_dim)`): the learnable class means.
        last_nc1, last_nc2 (`torch.Tensor`): detached values of the two terms at the last call, for logging.
    """

    def __init__(
        self, num_classes: int, feature_dim: int, nc1_weight: float = 0.01, nc2_weight: float = 0.1, *, seed: int = 0
    ) -> None:
        super().__init__()
        if num_classes < 2 or feature_dim < 1:
            raise ValueError(f"INC needs num_classes >= 2 and feature_dim >= 1, got {num_classes=}, {feature_dim=}.")
        if nc1_weight < 0 or nc2_weight < 0:
            raise ValueError(f"INC weights must be >= 0, got {nc1_weight=}, {nc2_weight=}.")
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.nc1_weight = float(nc1_weight)
        self.nc2_weight = float(nc2_weight)
        generator = torch.Generator().manual_seed(seed)
        self.means = nn.Parameter(torch.randn(num_classes, feature_dim, generator=generator))
        self.last_nc1: torch.Tensor | None = None
        self.last_nc2: torch.Tensor | None = None

    def nc1_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-class mean squared distance to the learnable means, summed over present classes, divided by K."""
        means = self.means.to(features.dtype)
        sq_dist = (features - means[labels]).pow(2).sum(dim=1)
        per_class = torch.zeros(self.num_classes, dtype=sq_dist.dtype, device=sq_dist.device)
        per_class = per_class.index_add(0, labels, sq_dist)
        counts = torch.bincount(labels, minlength=self.num_classes).to(sq_dist.dtype)
        return (per_class / counts.clamp_min(1.0)).sum() / self.num_classes

    def nc2_loss(self) -> torch.Tensor:
        """Minus the average over classes of the smallest angle between centred, normalised means (radians)."""
        with torch.autocast(device_type=self.means.device.type, enabled=False):
            centred = self.means.float() - self.means.float().mean(dim=0, keepdim=True)
            unit = F.normalize(centred, dim=1)
            cosine = unit @ unit.T
        eye = torch.eye(self.num_classes, dtype=torch.bool, device=cosine.device)
        max_cos = cosine.masked_fill(eye, -2.0).max(dim=1).values.clamp(-_COS_CLAMP, _COS_CLAMP)
        return -torch.acos(max_cos).mean()

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        *,
        labels_b: torch.Tensor | None = None,
        lam: float = 1.0,
    ) -> torch.Tensor:
        """Weighted INC regulariser `nc1_weight * NC1 + nc2_weight * NC2`.

        Args:
            features (`torch.Tensor` of shape `(batch, feature_dim)`): penultimate features.
            labels (`torch.Tensor` of shape `(batch,)`): class ids (first mixup target).
            labels_b (`torch.Tensor` of shape `(batch,)`, *optional*): second mixup target.
            lam (`float`, *optional*, defaults to 1.0): mixup coefficient.

        Returns:
            `torch.Tensor`: scalar.
        """
        if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[1] != self.feature_dim:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(
                f"INC `features` must have shape (batch, {self.feature_dim}), got {shape}; build INCLoss with the "
                "model's `feature_dim`."
            )
        check_labels(labels, self.num_classes, features.shape[0])
        lam = check_lam(lam)
        features = features.float()
        if labels_b is not None:
            check_labels(labels_b, self.num_classes, features.shape[0], name="labels_b")
        elif lam != 1.0:
            raise ValueError(f"`lam={lam}` was given without `labels_b`; pass both mixup targets or leave lam=1.0.")
        nc1 = self.nc1_loss(features, labels)
        if labels_b is not None and lam != 1.0:
            nc1 = lam * nc1 + (1.0 - lam) * self.nc1_loss(features, labels_b)
        nc2 = self.nc2_loss()
        self.last_nc1, self.last_nc2 = nc1.detach(), nc2.detach()
        return self.nc1_weight * nc1 + self.nc2_weight * nc2

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, nc1_weight={self.nc1_weight}, "
            f"nc2_weight={self.nc2_weight}"
        )
