"""Deferred re-weighting (DRW) class weights.

Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, sec. 3.3 and the
official code (kaidic/LDAM-DRW): from the DRW start epoch on, the loss is re-weighted per class by the
class-balanced weights of Cui et al. (CVPR 2019) with `beta = 0.9999`,
`w_k = (1 - beta) / (1 - beta^{n_k})`, normalised to sum to `K`. The weights are computed by
`timm.loss.class_weights.compute_class_weights(method="effective_num")` (mean 1, i.e. the same normalisation).
Pass them as `class_weight=` to any supervised loss; when to switch them on is the trainer's schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .class_balanced import class_balanced_weights

__all__ = ["drw_class_weights"]


def drw_class_weights(class_counts: Sequence[int] | torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """DRW per-class weights from the effective number of samples.

    Args:
        class_counts (`Sequence[int]` or `torch.Tensor` of shape `(num_classes,)`): positive training counts.
        beta (`float`, *optional*, defaults to 0.9999): effective-number hyper-parameter in `(0, 1)`.

    Returns:
        `torch.Tensor` of shape `(num_classes,)`, float32, summing to `num_classes`.
    """
    if not 0.0 < beta < 1.0:
        raise ValueError(f"DRW `beta` must be in (0, 1), got {beta}; LDAM-DRW uses 0.9999.")
    return class_balanced_weights(class_counts, beta)
