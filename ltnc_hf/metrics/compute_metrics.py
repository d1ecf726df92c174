"""`compute_metrics` for the `transformers.Trainer`: long-tailed accuracy plus neural-collapse diagnostics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ._utils import shot_group_masks, to_numpy
from .long_tail import SHOT_GROUPS, long_tail_accuracy
from .neural_collapse import neural_collapse_metrics

# scalar keys of `neural_collapse_metrics` reported by `LongTailMetrics`
NC_SCALAR_KEYS = (
    "nc1",
    "nc2_equinorm",
    "nc2_equiangular",
    "nc2_w_equinorm",
    "nc2_w_equiangular",
    "nc3",
    "nc4",
    "w_m_cosine",
    "spa_cosine",
    "trace_within",
    "trace_between",
    "trace_total",
    "ncc_accuracy",
)


def split_predictions(predictions: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Splits `EvalPrediction.predictions` into `(logits (N, K), features (N, d) or None)`.

    A model returning `LtncImageClassifierOutput(loss, logits, features)` reaches `compute_metrics` with
    `predictions = (logits, features)`; a plain classifier with `predictions = logits`.
    """
    if isinstance(predictions, (tuple, list)):
        if not predictions:
            raise ValueError("`predictions` is an empty tuple; the model returned no logits.")
        logits = to_numpy(predictions[0])
        features = to_numpy(predictions[1]) if len(predictions) > 1 and predictions[1] is not None else None
        if features is not None and (features.ndim != 2 or features.shape[0] != logits.shape[0]):
            raise ValueError(
                f"The second prediction must be features of shape ({logits.shape[0]}, dim), got "
                f"{tuple(features.shape)}; make the model return `features` right after `logits`."
            )
        return logits, features
    return to_numpy(predictions), None


class LongTailMetrics:
    """Trainer `compute_metrics`: accuracy per shot group and, given features, neural-collapse diagnostics.

    Returns a flat `dict[str, float]` (no lists, so every value can be logged): the scalars of
    [`long_tail_accuracy`] (a shot group without test classes is left out rather than logged as NaN), the scalars of
    [`neural_collapse_metrics`] when the predictions carry features, and the SpA feature–classifier cosine averaged
    per shot group (`spa_cosine_many`, `spa_cosine_medium`, `spa_cosine_few`, SpA Fig. 2) when a classifier weight is
    known. The `Trainer` prefixes every key with `eval_`.

    Args:
        train_class_counts (sequence of `int` of length `num_classes`):
            Training images per class (defines the shot groups).
        classifier_weight_fn (`Callable[[], torch.Tensor]`, *optional*):
            Returns the current classifier weight `(num_classes, dim)` (e.g. `model.get_classifier_weight`), or a
            tuple `(weight, bias)`. Enables NC3, NC4, SpA cosines. Without it NC4 still uses the logits.
        nc (`bool`, *optional*, defaults to `True`):
            Compute the neural-collapse diagnostics when features are present.
        many (`int`, *optional*, defaults to 100):
            Many-shot threshold (more than `many` training images).
        few (`int`, *optional*, defaults to 20):
            Few-shot threshold (fewer than `few` training images).
        device (`str` or `torch.device`, *optional*):
            Where to compute the NC statistics; defaults to the classifier weight's device (the model's, so a GPU
            when training on one), else CPU.

    Example:
        ```python
        >>> trainer = LtncTrainer(
        ...     model=model, args=args, train_dataset=train, eval_dataset=test,
        ...     compute_metrics=LongTailMetrics(counts, classifier_weight_fn=model.get_classifier_weight),
        ... )
        ```
    """

    def __init__(
        self,
        train_class_counts: Sequence[int],
        *,
        classifier_weight_fn: Callable[[], Any] | None = None,
        nc: bool = True,
        many: int = 100,
        few: int = 20,
        device: str | torch.device | None = None,
    ) -> None:
        self.train_class_counts = [int(c) for c in to_numpy(train_class_counts).tolist()]
        self.classifier_weight_fn = classifier_weight_fn
        self.nc = nc
        self.many = many
        self.few = few
        self.device = device
        # validate the thresholds and counts eagerly
        self._groups = shot_group_masks(self.train_class_counts, many=many, few=few)

    def _classifier(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self.classifier_weight_fn is None:
            return None, None
        out = self.classifier_weight_fn()
        weight, bias = out if isinstance(out, (tuple, list)) else (out, None)
        if weight is not None and isinstance(weight, torch.Tensor):
            weight = weight.detach()
        if bias is not None and isinstance(bias, torch.Tensor):
            bias = bias.detach()
        return weight, bias

    def __call__(self, eval_pred: Any) -> dict[str, float]:
        predictions, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(labels, (tuple, list)):
            labels = labels[0]
        logits, features = split_predictions(predictions)
        labels = to_numpy(labels).reshape(-1)
        metrics: dict[str, float] = {}
        acc = long_tail_accuracy(logits, labels, self.train_class_counts, many=self.many, few=self.few)
        for key, value in acc.items():
            if isinstance(value, float):
                metrics[key] = value
        if not (self.nc and features is not None):
            return metrics

        weight, bias = self._classifier()
        device = self.device
        if device is None:
            device = weight.device if isinstance(weight, torch.Tensor) else "cpu"
        nc = neural_collapse_metrics(
            features,
            labels,
            weight=weight,
            bias=bias,
            logits=logits,
            num_classes=len(self.train_class_counts),
            device=device,
        )
        for key in NC_SCALAR_KEYS:
            if key in nc and math.isfinite(nc[key]):
                metrics[key] = float(nc[key])
        if "spa_cosine_per_class" in nc:
            per_class = nc["spa_cosine_per_class"]
            for group in SHOT_GROUPS:
                values = per_class[self._groups[group]]
                values = values[np.isfinite(values)]
                if values.size:
                    metrics[f"spa_cosine_{group}"] = float(values.mean())
        return metrics
