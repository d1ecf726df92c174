"""Small conversions shared by the metric modules (array coercion, JSON-safe values, shot groups)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def to_numpy(x: Any, *, dtype: Any = None) -> np.ndarray:
    """Converts a tensor, array or nested sequence to a NumPy array (half precision tensors are upcast to float32)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        x = x.cpu().numpy()
    arr = np.asarray(x)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def check_labels(labels: Any, num_classes: int, *, name: str = "labels") -> np.ndarray:
    """Returns `labels` as a 1-D int64 array and checks that every value is a class id in `[0, num_classes)`."""
    arr = to_numpy(labels)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must have shape (num_samples,), got shape {tuple(arr.shape)}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise TypeError(f"`{name}` must hold integer class ids, got dtype {arr.dtype} with fractional values.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"`{name}` must lie in [0, {num_classes}) (the number of classes), got values in "
            f"[{int(arr.min())}, {int(arr.max())}]; pass class counts / weights covering every class."
        )
    return arr


def shot_group_masks(train_class_counts: Sequence[int] | np.ndarray, many: int = 100, few: int = 20) -> dict:
    """Boolean masks (num_classes,) of the many- (> `many`), medium- (`few`..`many`) and few-shot (< `few`) classes.

    The thresholds follow DisA, RBL and BALMS: many-shot classes have more than 100 training images, few-shot classes
    fewer than 20 and medium-shot classes the rest (20 to 100 inclusive).
    """
    counts = np.asarray(train_class_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"`train_class_counts` must be a non-empty 1-D sequence, got shape {tuple(counts.shape)}.")
    if np.any(counts < 0):
        raise ValueError("`train_class_counts` must be non-negative training image counts per class.")
    if few > many:
        raise ValueError(f"The few-shot threshold must not exceed the many-shot one (got few={few} > many={many}).")
    many_mask = counts > many
    few_mask = counts < few
    return {"many": many_mask, "medium": ~(many_mask | few_mask), "few": few_mask}


def to_jsonable(value: Any) -> Any:
    """Recursively converts arrays, tensors and NumPy scalars to plain Python; NaN and infinities become `None`."""
    if isinstance(value, torch.Tensor):
        value = to_numpy(value)
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()] if value.ndim else to_jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
