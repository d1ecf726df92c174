"""ltnc-hf: long-tailed image classification with Neural-Collapse methods (DisA, SpA) on Hugging Face and timm.

Public names are exported lazily so that ``import ltnc_hf`` stays cheap for the command line; importing the package
registers the CIFAR ResNets with timm and the ``ltnc`` model type with the transformers Auto classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> sub-module that defines it
_LAZY: dict[str, str] = {}


def _export(module: str, *names: str) -> None:
    for name in names:
        _LAZY[name] = module


_export(
    "ltnc_hf.data",
    "long_tail_counts",
    "make_long_tailed",
    "class_counts",
    "shot_groups",
    "load_cifar_lt",
    "load_fashion_mnist_lt",
    "load_digits_lt",
    "load_list_file_dataset",
    "load_imagenet_lt",
    "load_places_lt",
    "load_lt_dataset",
    "DATASET_BUILDERS",
    "create_transform",
    "with_image_transforms",
    "ClassAwareSampler",
    "create_sampler",
)
_export(
    "ltnc_hf.modeling",
    "LtncConfig",
    "LtncModel",
    "LtncForImageClassification",
    "LtncImageClassifierOutput",
    "simplex_etf",
    "spread_unit_vectors",
    "export_backbone_to_timm",
    "LtncImageProcessor",
    "HEAD_TYPES",
)
_export("ltnc_hf.ot", "sinkhorn")
_export(
    "ltnc_hf.losses",
    "LOSS_TYPES",
    "create_loss",
    "DisALoss",
    "ClassMeanTracker",
    "spa_reg_loss",
    "spa_slerp_",
    "spa_slerp_alpha",
    "spa_project_grad_",
    "drw_class_weights",
    "INCLoss",
)
_export(
    "ltnc_hf.metrics",
    "long_tail_accuracy",
    "neural_collapse_metrics",
    "LongTailMetrics",
    "NeuralCollapseCallback",
)
_export("ltnc_hf.model_card", "create_model_card")
_export("ltnc_hf.hub", "push_checkpoint")
_export("ltnc_hf.trainer", "LtncTrainingArguments", "LtncTrainer")

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ltnc_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Registration side effects: timm model names and the transformers Auto classes.
from . import modeling as _modeling  # noqa: E402,F401

if TYPE_CHECKING:  # pragma: no cover
    from .data import *  # noqa: F403
    from .losses import *  # noqa: F403
    from .metrics import *  # noqa: F403
    from .modeling import *  # noqa: F403
    from .trainer import *  # noqa: F403
