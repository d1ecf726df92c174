"""The registry of long-tailed dataset builders: `DATASET_BUILDERS` and `load_lt_dataset(name, ...)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cifar import load_cifar10_lt, load_cifar100_lt
from .digits import load_digits_lt
from .fashion_mnist import load_fashion_mnist_lt
from .list_file import load_imagenet_lt, load_list_file_dataset, load_places_lt

__all__ = ["DATASET_BUILDERS", "FIXED_SPLIT_DATASETS", "canonical_dataset_name", "load_lt_dataset"]

# name -> builder returning a `DatasetDict` with `image` (Image) and `label` (ClassLabel) columns.
DATASET_BUILDERS: dict[str, Callable[..., Any]] = {
    "cifar10": load_cifar10_lt,
    "cifar100": load_cifar100_lt,
    "fashion_mnist": load_fashion_mnist_lt,
    "digits": load_digits_lt,
    "imagenet_lt": load_imagenet_lt,
    "places_lt": load_places_lt,
    "list_file": load_list_file_dataset,
}
# Builders whose splits are long-tailed by construction: they take no imbalance factor.
FIXED_SPLIT_DATASETS = ("imagenet_lt", "places_lt", "list_file")


def canonical_dataset_name(name: str) -> str:
    """Map spellings such as `"CIFAR-10-LT"`, `"fashion-mnist"` or `"ImageNet-LT"` to a `DATASET_BUILDERS` key."""
    squashed = {key.replace("_", ""): key for key in DATASET_BUILDERS}
    key = str(name).lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in squashed:
        return squashed[key]
    if key.endswith("lt") and key[:-2] in squashed:
        return squashed[key[:-2]]
    raise ValueError(f"Unknown dataset {name!r}; expected one of {tuple(DATASET_BUILDERS)}.")


def load_lt_dataset(name: str, imbalance_factor: float | None = None, **kwargs: Any) -> Any:
    """Build a long-tailed dataset by name.

    Args:
        name (`str`): a key of `DATASET_BUILDERS` (`"cifar10"`, `"cifar100"`, `"fashion_mnist"`, `"digits"`,
            `"imagenet_lt"`, `"places_lt"`, `"list_file"`); common spellings such as `"CIFAR-10-LT"` are accepted.
        imbalance_factor (`float`, *optional*): `rho >= 1`, required by the CIFAR, Fashion-MNIST and digits builders;
            must be left unset for the fixed long-tailed splits (ImageNet-LT, Places-LT, list files).
        kwargs: passed to the builder (e.g. `data_dir`, `seed`, `root`).

    Returns:
        `datasets.DatasetDict` from the builder.
    """
    key = canonical_dataset_name(name)
    builder = DATASET_BUILDERS[key]
    if key in FIXED_SPLIT_DATASETS:
        if imbalance_factor is not None:
            raise ValueError(
                f"imbalance_factor={imbalance_factor!r} does not apply to {key!r}: its split files are long-tailed "
                "already. Leave imbalance_factor unset."
            )
        return builder(**kwargs)
    if imbalance_factor is None:
        raise ValueError(
            f"{key!r} needs an imbalance factor rho = n_max / n_min >= 1; pass e.g. imbalance_factor=100."
        )
    return builder(imbalance_factor, **kwargs)
