"""Focal loss.

Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, eq. (4) without the alpha balancing term:
`l_i = -(1 - p_{y_i})^gamma * log p_{y_i}`, with gamma = 2 as in the paper (and as the long-tail baselines use it).

Deliberate difference from the LDAM-DRW code's `FocalLoss` (kaidic/LDAM-DRW): there `p` is recovered from the
*class-weighted* cross-entropy, `p = exp(-w_y * CE)`, which changes the modulating factor when weights are used. Here
`p` is the model's probability and a class weight scales the whole sample loss (weighted mean, like CE's `weight=`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import SupervisedLoss

__all__ = ["FocalLoss"]


class FocalLoss(SupervisedLoss):
    """Softmax focal loss with the uniform supervised-loss call.

    Args:
        gamma (`float`, *optional*, defaults to 2.0):
            Focusing parameter `>= 0`; `gamma=0` is cross-entropy.
    """

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        if not gamma >= 0:
            raise ValueError(f"Focal `gamma` must be >= 0, got {gamma}.")
        self.gamma = float(gamma)

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, labels.unsqueeze(1)).squeeze(1)
        return -((1.0 - log_p.exp()).clamp_min(0.0) ** self.gamma) * log_p

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
