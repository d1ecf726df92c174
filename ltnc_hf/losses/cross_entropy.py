"""Cross-entropy with optional label smoothing.

Label smoothing: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016, sec. 7:
`l_i = (1 - s) * (-log p_{y_i}) + s * mean_k(-log p_k)`.

Deliberate difference from `torch.nn.functional.cross_entropy(weight=w, label_smoothing=s)`: a per-class weight
here scales the whole loss of a sample by `w_{y_i}` (a class re-weighting, as DRW intends), whereas PyTorch weights
the smoothing term of every class `k` by `w_k`. Without class weights the two agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import SupervisedLoss

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(SupervisedLoss):
    """Softmax cross-entropy with optional label smoothing, with the uniform supervised-loss call.

    Args:
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Smoothing `s` in `[0, 1)`.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, reduction="none", label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"
