"""LDAM: label-distribution-aware margin loss.

Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, eq. (13):
`l_i = -log( e^{s (z_y - m_y)} / (e^{s (z_y - m_y)} + sum_{k != y} e^{s z_k}) )` with `m_k = C / n_k^{1/4}`, `C` set so
that the largest margin is `max_margin` (0.5), and scale `s = 30`, as in the official code (kaidic/LDAM-DRW).

The logits must be the *unscaled* cosine logits of a cosine ("normed linear") head, in `[-1, 1]` (the model's
`head="cosine"` with `logit_scale=1.0`); the scale `s` is applied here. Class weights (DRW) act like CE's `weight=`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._base import SupervisedLoss, as_class_counts

__all__ = ["LDAMLoss", "ldam_margins"]


def ldam_margins(class_counts: Sequence[int] | torch.Tensor, max_margin: float = 0.5) -> torch.Tensor:
    """Per-class margins `m_k ∝ n_k^(-1/4)`, scaled so that `max_k m_k = max_margin`; float32 `(num_classes,)`."""
    counts = as_class_counts(class_counts, "ldam")
    if not max_margin > 0:
        raise ValueError(f"`max_margin` must be > 0, got {max_margin}; the paper uses 0.5.")
    margins = counts.pow(-0.25)
    return (margins * (max_margin / margins.max())).to(torch.float32)


class LDAMLoss(SupervisedLoss):
    """LDAM loss with the uniform supervised-loss call.

    Args:
        class_counts (`Sequence[int]` or `torch.Tensor` of shape `(num_classes,)`): positive training counts.
        max_margin (`float`, *optional*, defaults to 0.5): margin of the rarest class.
        scale (`float`, *optional*, defaults to 30.0): logit scale `s`.
    """

    def __init__(
        self, class_counts: Sequence[int] | torch.Tensor, max_margin: float = 0.5, scale: float = 30.0
    ) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"LDAM `scale` must be > 0, got {scale}; the paper uses 30.")
        margins = ldam_margins(class_counts, max_margin)
        self.num_classes = margins.numel()
        self.max_margin = float(max_margin)
        self.scale = float(scale)
        self.register_buffer("margins", margins, persistent=False)

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        logits = logits.float()
        margin = self.margins.to(logits.device)[labels]
        shifted = logits.scatter_add(1, labels.unsqueeze(1), -margin.unsqueeze(1))
        return F.cross_entropy(self.scale * shifted, labels, reduction="none")

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, max_margin={self.max_margin}, scale={self.scale}"
