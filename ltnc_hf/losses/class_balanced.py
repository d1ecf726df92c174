"""Class-balanced loss from the effective number of samples.

Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019: the effective number of class `k`
is `E_k = (1 - beta^{n_k}) / (1 - beta)` (eq. 3); the class-balanced weight `w_k = 1 / E_k`, normalised so that
`sum_k w_k = K` (sec. 4), multiplies the loss of every sample of class `k` (eq. 5). Softmax variant: `w_y * CE`;
sigmoid variant (eq. 6): `w_y * sum_k BCE(z_k, 1[k = y])` (summed over classes, as in the paper's formula).
The weights come from `timm.loss.class_weights.compute_class_weights(method="effective_num")`, whose mean-1
normalisation is the paper's sum-`K` one.

A further `class_weight` passed to `forward` (e.g. DRW's) is applied on top, like CE's `weight=` (weighted mean).
For the sigmoid variant the paper initialises the classifier bias to `-log((1 - pi) / pi)` with `pi = 1 / K`; that
is a model choice and is not done here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.loss.class_weights import compute_class_weights

from ._base import SupervisedLoss, as_class_counts

__all__ = ["CB_LOSS_TYPES", "ClassBalancedLoss", "class_balanced_weights"]

CB_LOSS_TYPES = ("softmax", "sigmoid")


def class_balanced_weights(class_counts: Sequence[int] | torch.Tensor, beta: float = 0.999) -> torch.Tensor:
    """Class-balanced weights `(1 - beta) / (1 - beta^{n_k})`, normalised to sum to the number of classes.

    Args:
        class_counts (`Sequence[int]` or `torch.Tensor` of shape `(num_classes,)`): positive training counts.
        beta (`float`, *optional*, defaults to 0.999): effective-number hyper-parameter in `(0, 1)`.

    Returns:
        `torch.Tensor` of shape `(num_classes,)`, float32, summing to `num_classes`.
    """
    counts = as_class_counts(class_counts, "class-balanced weights")
    if not 0.0 < beta < 1.0:
        raise ValueError(f"`beta` must be in (0, 1), got {beta}; the paper uses 0.999 (CIFAR) or 0.9999.")
    _, weights = compute_class_weights(counts, int(counts.sum()), method="effective_num", beta=beta)
    return weights


class ClassBalancedLoss(SupervisedLoss):
    """Class-balanced softmax or sigmoid cross-entropy with the uniform supervised-loss call.

    Args:
        class_counts (`Sequence[int]` or `torch.Tensor` of shape `(num_classes,)`): positive training counts.
        beta (`float`, *optional*, defaults to 0.999): effective-number hyper-parameter.
        loss_type (`str`, *optional*, defaults to `"softmax"`): one of `CB_LOSS_TYPES`.
    """

    def __init__(
        self, class_counts: Sequence[int] | torch.Tensor, beta: float = 0.999, loss_type: str = "softmax"
    ) -> None:
        super().__init__()
        if loss_type not in CB_LOSS_TYPES:
            raise ValueError(f"Unknown class-balanced loss type '{loss_type}', expected one of {CB_LOSS_TYPES}.")
        self.loss_type = loss_type
        self.beta = float(beta)
        weights = class_balanced_weights(class_counts, beta)
        self.num_classes = weights.numel()
        self.register_buffer("cb_weight", weights, persistent=False)

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        logits = logits.float()
        weight = self.cb_weight.to(logits.device)[labels]
        if self.loss_type == "softmax":
            losses = F.cross_entropy(logits, labels, reduction="none")
        else:
            targets = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
            losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(dim=1)
        return weight * losses

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, beta={self.beta}, loss_type={self.loss_type!r}"
