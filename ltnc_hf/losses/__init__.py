"""Losses for long-tailed classification: DisA, SpA, and the long-tail baselines they combine with.

Supervised losses (one per file) share the call
`loss(logits, labels, *, labels_b=None, lam=1.0, features=None, class_weight=None)` and are built by name with
[`create_loss`] from `LOSS_TYPES`. The regularisers have their own calls: [`DisALoss`] (features vs. a simplex ETF),
[`INCLoss`] (features and labels, learnable means), and the SpA functions on the classifier weight and the running
class means of a [`ClassMeanTracker`].
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import torch

from ._base import SupervisedLoss
from .balanced_softmax import BalancedSoftmaxLoss
from .class_balanced import CB_LOSS_TYPES, ClassBalancedLoss, class_balanced_weights
from .class_means import ClassMeanTracker
from .cross_entropy import CrossEntropyLoss
from .disa import DISA_COSTS, DISA_PLAN_GRADS, DisALoss
from .dot_regression import DotRegressionLoss
from .drw import drw_class_weights
from .focal import FocalLoss
from .inc import INCLoss
from .ldam import LDAMLoss, ldam_margins
from .spa import spa_project_grad_, spa_reg_loss, spa_slerp_, spa_slerp_alpha

logger = logging.getLogger(__name__)

__all__ = [
    "CB_LOSS_TYPES",
    "DISA_COSTS",
    "DISA_PLAN_GRADS",
    "LOSS_TYPES",
    "LOSSES_USING_CLASS_COUNTS",
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "ClassMeanTracker",
    "CrossEntropyLoss",
    "DisALoss",
    "DotRegressionLoss",
    "FocalLoss",
    "INCLoss",
    "LDAMLoss",
    "SupervisedLoss",
    "class_balanced_weights",
    "create_loss",
    "drw_class_weights",
    "ldam_margins",
    "spa_project_grad_",
    "spa_reg_loss",
    "spa_slerp_",
    "spa_slerp_alpha",
]

#: names accepted by `create_loss`
LOSS_TYPES = ("ce", "focal", "cb_softmax", "cb_sigmoid", "ldam", "balanced_softmax", "dot_regression")
#: the losses built from the per-class training counts
LOSSES_USING_CLASS_COUNTS = ("cb_softmax", "cb_sigmoid", "ldam", "balanced_softmax")

_BUILDERS: dict[str, tuple[type[SupervisedLoss], dict[str, Any]]] = {
    "ce": (CrossEntropyLoss, {}),
    "focal": (FocalLoss, {}),
    "cb_softmax": (ClassBalancedLoss, {"loss_type": "softmax"}),
    "cb_sigmoid": (ClassBalancedLoss, {"loss_type": "sigmoid"}),
    "ldam": (LDAMLoss, {}),
    "balanced_softmax": (BalancedSoftmaxLoss, {}),
    "dot_regression": (DotRegressionLoss, {}),
}


def create_loss(name: str, class_counts: Sequence[int] | torch.Tensor | None = None, **kwargs: Any) -> SupervisedLoss:
    """Build a supervised loss by name.

    | name | loss | main options (defaults) |
    |---|---|---|
    | `"ce"` | [`CrossEntropyLoss`] | `label_smoothing=0.0` |
    | `"focal"` | [`FocalLoss`] | `gamma=2.0` |
    | `"cb_softmax"`, `"cb_sigmoid"` | [`ClassBalancedLoss`] | `beta=0.999` |
    | `"ldam"` | [`LDAMLoss`] (cosine head) | `max_margin=0.5`, `scale=30.0` |
    | `"balanced_softmax"` | [`BalancedSoftmaxLoss`] | |
    | `"dot_regression"` | [`DotRegressionLoss`] (ETF head, `features`) | `logit_scale=1.0`, `classifier_weight` |

    Args:
        name (`str`): one of `LOSS_TYPES`.
        class_counts (`Sequence[int]` or `torch.Tensor` of shape `(num_classes,)`, *optional*):
            Per-class training counts, required (and all positive) for `LOSSES_USING_CLASS_COUNTS`; the other losses
            do not use them, and passing them is accepted and reported as ignored in the log.
        **kwargs: options of the loss class.

    Returns:
        [`SupervisedLoss`]: an `nn.Module` with the uniform call.

    Raises:
        `ValueError`: unknown name, missing or non-positive class counts, or an option the loss does not have.
    """
    if name not in _BUILDERS:
        raise ValueError(f"Unknown loss type '{name}', expected one of {LOSS_TYPES}.")
    cls, preset = _BUILDERS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "class_counts", *preset)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"Loss '{name}' does not take the option(s) {unknown}; its options are {accepted}.")
    if name in LOSSES_USING_CLASS_COUNTS:
        return cls(class_counts, **preset, **kwargs)
    if class_counts is not None:
        logger.info("Loss '%s' does not use class counts; `class_counts` is ignored.", name)
    return cls(**preset, **kwargs)
