"""Balanced Softmax.

Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020, eq. (4): cross-entropy on the
logits shifted by the log class prior, `CE(z + log n, y)` (the normalisation of the prior cancels in the softmax).
This is also ARB with global counts (Xie et al., "Neural Collapse Inspired Attraction-Repulsion-Balanced Loss for
Imbalanced Learning", Neurocomputing 2023). Predict with the unshifted logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._base import SupervisedLoss, as_class_counts

__all__ = ["BalancedSoftmaxLoss"]


class BalancedSoftmaxLoss(SupervisedLoss):
    """Balanced Softmax (logit adjustment by `log n_k` during training) with the uniform supervised-loss call.

    Args:
        class_counts (`Sequence[int]` or `torch.Tensor` of shape `(num_classes,)`): positive training counts.
    """

    def __init__(self, class_counts: Sequence[int] | torch.Tensor) -> None:
        super().__init__()
        counts = as_class_counts(class_counts, "balanced_softmax")
        self.num_classes = counts.numel()
        self.register_buffer("log_prior", counts.log().to(torch.float32), persistent=False)

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        logits = logits.float() + self.log_prior.to(logits.device)
        return F.cross_entropy(logits, labels, reduction="none")

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"
