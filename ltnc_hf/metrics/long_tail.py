"""Long-tailed accuracy: overall, per class, per shot group (many / medium / few), balanced and top-5.

The shot groups follow DisA (Gao et al., ICML 2024), RBL and BALMS: many-shot classes have more than `many=100`
training images, few-shot classes fewer than `few=20`, medium-shot classes the rest. OLTR (Liu et al., 2019) uses
>= 100 and <= 20 instead; pass `many=99, few=21` to reproduce it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix

from ._utils import check_labels, shot_group_masks, to_numpy

SHOT_GROUPS = ("many", "medium", "few")


def _check_counts(train_class_counts: Any) -> np.ndarray:
    counts = to_numpy(train_class_counts)
    if counts.ndim != 1 or counts.size < 2:
        raise ValueError(
            f"`train_class_counts` must list the training images of every class (at least 2 classes), got shape "
            f"{tuple(counts.shape)}."
        )
    if not np.issubdtype(counts.dtype, np.integer):
        if not np.all(np.equal(np.mod(counts, 1), 0)):
            raise TypeError("`train_class_counts` must hold integer image counts.")
    return counts.astype(np.int64)


def top1_predictions(predictions: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns `(class_ids (N,), logits (N, K) or None)` from class ids or logits."""
    preds = to_numpy(predictions)
    if preds.ndim == 2:
        if preds.shape[1] != num_classes:
            raise ValueError(
                f"Logits have {preds.shape[1]} columns but `train_class_counts` lists {num_classes} classes; pass "
                "the counts of the classes the model predicts."
            )
        return preds.argmax(axis=1).astype(np.int64), preds
    if preds.ndim == 1:
        return check_labels(preds, num_classes, name="predictions"), None
    raise ValueError(
        f"`predictions` must be class ids of shape (N,) or logits of shape (N, num_classes), got shape "
        f"{tuple(preds.shape)}."
    )


def long_tail_accuracy(
    predictions: Any,
    labels: Any,
    train_class_counts: Sequence[int] | np.ndarray,
    *,
    many: int = 100,
    few: int = 20,
) -> dict[str, Any]:
    """Top-1 accuracy overall, per class and per shot group of a long-tailed classifier.

    Args:
        predictions (`np.ndarray` or `torch.Tensor` of shape `(num_samples,)` or `(num_samples, num_classes)`):
            Predicted class ids, or logits (then the top-1 prediction is their argmax and top-5 accuracy is added).
        labels (`np.ndarray` or `torch.Tensor` of shape `(num_samples,)`):
            True class ids in `[0, num_classes)`.
        train_class_counts (sequence of `int` of length `num_classes`):
            Training images per class; they define the shot groups and the number of classes.
        many (`int`, *optional*, defaults to 100):
            Classes with more than `many` training images are many-shot.
        few (`int`, *optional*, defaults to 20):
            Classes with fewer than `few` training images are few-shot; the others are medium-shot.

    Returns:
        `dict` with
        - `accuracy` (`float`): fraction of correctly classified samples;
        - `many_accuracy`, `medium_accuracy`, `few_accuracy` (`float` or `None`): mean of the per-class accuracies of
          the group's classes that occur in `labels` (with a balanced test set this equals the sample accuracy on the
          group). `None` when the group has no such class, so the dict stays JSON-safe (no NaN);
        - `per_class_accuracy` (`list` of `float | None`, length `num_classes`): recall of each class, `None` for a
          class absent from `labels`;
        - `balanced_accuracy` (`float`): mean recall over the classes present in `labels` (scikit-learn's
          `balanced_accuracy_score`);
        - `top5_accuracy` (`float`): only when logits with at least 5 columns are given;
        - `num_many_classes`, `num_medium_classes`, `num_few_classes` (`int`): group sizes by training count.

    Example:
        ```python
        >>> long_tail_accuracy([0, 1, 2, 2], [0, 1, 1, 2], train_class_counts=[500, 50, 5])["medium_accuracy"]
        0.5
        ```
    """
    counts = _check_counts(train_class_counts)
    num_classes = counts.size
    top1, logits = top1_predictions(predictions, num_classes)
    y = check_labels(labels, num_classes)
    if y.shape[0] != top1.shape[0]:
        raise ValueError(f"`predictions` has {top1.shape[0]} samples but `labels` has {y.shape[0]}; they must match.")
    if y.shape[0] == 0:
        raise ValueError("Cannot compute accuracy on zero samples; the evaluation set is empty.")

    cm = confusion_matrix(y, top1, labels=np.arange(num_classes))
    support = cm.sum(axis=1)
    correct = np.diag(cm)
    present = support > 0
    per_class = np.full(num_classes, np.nan)
    per_class[present] = correct[present] / support[present]

    result: dict[str, Any] = {"accuracy": float(correct.sum() / y.shape[0])}
    masks = shot_group_masks(counts, many=many, few=few)
    for group in SHOT_GROUPS:
        selected = masks[group] & present
        result[f"{group}_accuracy"] = float(per_class[selected].mean()) if selected.any() else None
    result["balanced_accuracy"] = float(per_class[present].mean())
    if logits is not None and num_classes >= 5:
        top5 = np.argpartition(-logits, 4, axis=1)[:, :5]
        result["top5_accuracy"] = float((top5 == y[:, None]).any(axis=1).mean())
    result["per_class_accuracy"] = [float(v) if np.isfinite(v) else None for v in per_class]
    for group in SHOT_GROUPS:
        result[f"num_{group}_classes"] = int(masks[group].sum())
    return result
