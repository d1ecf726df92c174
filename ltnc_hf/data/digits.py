"""Digits-LT: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), made long-tailed.

Fully offline (the data ships with scikit-learn), so it is the dataset of the quick demo and of fast tests. The 0-16
grey levels are scaled to uint8 0-255. The split is deterministic and stratified: `test_per_class` images of every
class (drawn with `np.random.RandomState(split_seed)`) form a balanced `test` split, the rest is the pool from which
the long-tailed `train` split is drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import arrays_to_dataset, long_tailed_from_arrays
from .long_tail import check_imbalance_factor

__all__ = ["load_digits_arrays", "load_digits_lt"]


def load_digits_arrays(
    *, test_per_class: int = 50, split_seed: int = 0, image_size: int | None = None
) -> dict[str, Any]:
    """The digits as uint8 arrays with a balanced test split.

    Returns:
        `dict` with `train_images`/`test_images` (uint8 of shape `(N, S, S)`, `S = image_size or 8`),
        `train_labels`/`test_labels` (int64 `(N,)`), `class_names` (`"0"` ... `"9"`).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    per_class = np.bincount(labels)
    if not 1 <= test_per_class < per_class.min():
        raise ValueError(
            f"test_per_class={test_per_class} must be in [1, {per_class.min()}) so that every class keeps training "
            f"images (the smallest digit class has {per_class.min()})."
        )
    if image_size is not None and image_size != images.shape[1]:
        from PIL import Image

        images = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((image_size, image_size), Image.Resampling.BILINEAR))
                for im in images
            ]
        )
    rng = np.random.RandomState(split_seed)
    test_mask = np.zeros(len(labels), dtype=bool)
    for k in range(len(per_class)):
        idx = np.flatnonzero(labels == k)
        test_mask[rng.permutation(idx)[:test_per_class]] = True
    return {
        "train_images": images[~test_mask],
        "train_labels": labels[~test_mask],
        "test_images": images[test_mask],
        "test_labels": labels[test_mask],
        "class_names": [str(k) for k in range(len(per_class))],
    }


def load_digits_lt(
    imbalance_factor: float,
    *,
    profile: str = "exp",
    selection: str = "ldam",
    seed: int = 0,
    max_count: int | None = None,
    test_per_class: int = 50,
    split_seed: int = 0,
    image_size: int | None = None,
    data_dir: None = None,
) -> Any:
    """Digits-LT: a long-tailed `train` split and a balanced `test` split (`test_per_class` images per class).

    Args:
        imbalance_factor (`float`): `rho = n_max / n_min >= 1`; the train pool has >= 124 images per class, so
            `rho <= 124` with the default `max_count`.
        profile, selection, seed, max_count: see [`long_tail_indices`].
        test_per_class (`int`, *optional*, defaults to 50): size of each class in the test split.
        split_seed (`int`, *optional*, defaults to 0): seed of the train/test split.
        image_size (`int`, *optional*): resize the 8x8 images to `image_size` x `image_size` (bilinear).
        data_dir: accepted for a uniform builder signature; must stay `None` (the data ships with scikit-learn).

    Returns:
        `datasets.DatasetDict` with splits `train` and `test`, features `image` (`Image`, mode `L`) and `label`.
    """
    check_imbalance_factor(imbalance_factor)
    if data_dir is not None:
        raise ValueError(
            f"data_dir={str(data_dir)!r} does not apply to the digits dataset, which ships with scikit-learn; "
            "leave data_dir unset."
        )
    from datasets import DatasetDict

    raw = load_digits_arrays(test_per_class=test_per_class, split_seed=split_seed, image_size=image_size)
    train = long_tailed_from_arrays(
        raw["train_images"],
        raw["train_labels"],
        raw["class_names"],
        imbalance_factor,
        profile=profile,
        selection=selection,
        seed=seed,
        max_count=max_count,
    )
    test = arrays_to_dataset(raw["test_images"], raw["test_labels"], raw["class_names"])
    return DatasetDict({"train": train, "test": test})
