"""Plumbing shared by the builders: uint8 arrays -> `datasets.Dataset` with `Image` + `ClassLabel` features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .long_tail import _long_tail_record, check_imbalance_factor, long_tail_indices, set_long_tail_info


def image_features(class_names: Sequence[str]) -> Any:
    from datasets import ClassLabel, Features, Image

    return Features({"image": Image(), "label": ClassLabel(names=list(class_names))})


def arrays_to_dataset(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Any:
    """`images` uint8 of shape `(N, H, W)` (grayscale) or `(N, H, W, C)`; stored as PNG in an `Image()` column."""
    from datasets import Dataset

    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}.")
    return Dataset.from_dict(
        {"image": list(images), "label": np.asarray(labels, dtype=np.int64).tolist()},
        features=image_features(class_names),
    )


def long_tailed_from_arrays(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    imbalance_factor: float,
    *,
    profile: str,
    selection: str,
    seed: int,
    max_count: int | None,
) -> Any:
    """Select the long-tailed indices on the labels, then encode only the selected images (same subset, same order
    and same record as `make_long_tailed` on the full dataset)."""
    check_imbalance_factor(imbalance_factor)
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_names)
    indices = long_tail_indices(
        labels,
        imbalance_factor,
        num_classes=num_classes,
        profile=profile,
        selection=selection,
        seed=seed,
        max_count=max_count,
        class_names=class_names,
    )
    dataset = arrays_to_dataset(images[indices], labels[indices], class_names)
    available = np.bincount(labels, minlength=num_classes)
    counts = np.bincount(labels[indices], minlength=num_classes).tolist()
    set_long_tail_info(
        dataset,
        _long_tail_record(
            float(imbalance_factor),
            profile,
            selection,
            seed,
            int(available.min()) if max_count is None else int(max_count),
            counts,
            len(labels),
        ),
    )
    return dataset


def normalise_columns(dataset: Any, image_candidates: Sequence[str], label_candidates: Sequence[str]) -> Any:
    """Rename the first present image/label column to `image`/`label` and drop every other column."""
    columns = list(dataset.column_names)
    image_col = next((c for c in image_candidates if c in columns), None)
    label_col = next((c for c in label_candidates if c in columns), None)
    if image_col is None or label_col is None:
        raise ValueError(
            f"Expected an image column (one of {list(image_candidates)}) and a label column (one of "
            f"{list(label_candidates)}); the dataset has columns {columns}. Rename them before loading."
        )
    dataset = dataset.select_columns([image_col, label_col])
    renames = {c: n for c, n in ((image_col, "image"), (label_col, "label")) if c != n}
    return dataset.rename_columns(renames) if renames else dataset
