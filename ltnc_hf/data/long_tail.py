"""Long-tailed subsets of classification datasets: class counts, index selection and many/medium/few groups.

The exponential profile and the `"ldam"` selection reproduce `IMBALANCECIFAR` of LDAM-DRW (Cao et al., 2019,
github.com/kaidic/LDAM-DRW), the subset behind the CIFAR-LT tables of most long-tailed papers: with the RNG seeded
once with `seed`, for each class in label order, shuffle that class's indices and keep the first `n_k`. The original
seeds NumPy's global RNG; a local `np.random.RandomState(seed)` yields the same stream without touching global state.

Everything here works on labels only: a subset is `dataset.select(indices)`, images are never decoded.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "PROFILES",
    "SELECTIONS",
    "long_tail_counts",
    "long_tail_indices",
    "make_long_tailed",
    "class_counts",
    "shot_groups",
    "get_labels",
    "long_tail_info",
]

PROFILES = ("exp", "step")
SELECTIONS = ("ldam", "first", "random")

# The marker line in `DatasetInfo.description` that holds the JSON record of how a long-tailed split was made.
_INFO_MARKER = "ltnc_hf.long_tail: "


def check_imbalance_factor(imbalance_factor: Any) -> float:
    """Validate an imbalance ratio ρ = n_max / n_min and return it as a float (raises `ValueError` otherwise)."""
    if (
        isinstance(imbalance_factor, bool)
        or not isinstance(imbalance_factor, numbers.Real)
        or not math.isfinite(float(imbalance_factor))
    ):
        raise ValueError(
            f"imbalance_factor={imbalance_factor!r} is not a finite number; the imbalance ratio rho = n_max / n_min "
            "must be a real number >= 1. Pass e.g. imbalance_factor=100 (or 1 for a balanced subset)."
        )
    value = float(imbalance_factor)
    if value < 1:
        hint = f" (did you mean {1 / value:g}? LDAM-DRW's `imb_factor=0.01` is rho=100)" if value > 0 else ""
        raise ValueError(
            f"imbalance_factor={imbalance_factor!r} is < 1; the imbalance ratio rho = n_max / n_min must be >= 1"
            f"{hint}. Pass the ratio itself, e.g. imbalance_factor=100."
        )
    return value


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {tuple(choices)}.")


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name}={value!r} must be an integer >= 1.")
    return int(value)


def _raw_counts(max_count: int, num_classes: int, rho: float, profile: str) -> list[int]:
    if num_classes == 1:
        return [max_count]
    if profile == "exp":
        # Same arithmetic as LDAM-DRW: img_max * (imb_factor ** (cls_idx / (cls_num - 1.0))), imb_factor = 1 / rho.
        inv = 1.0 / rho
        return [int(max_count * inv ** (k / (num_classes - 1.0))) for k in range(num_classes)]
    head = num_classes // 2
    return [int(max_count)] * head + [int(max_count * (1.0 / rho))] * (num_classes - head)


def _largest_valid_rho(max_count: int, num_classes: int, profile: str) -> float:
    """Largest rho keeping every class at >= 1 example (for the error message)."""
    # The tail class gets int(max_count / rho); rho = max_count is the bound up to floating-point rounding.
    rho = float(max_count)
    for _ in range(64):
        if min(_raw_counts(max_count, num_classes, rho, profile)) >= 1:
            break
        rho = float(np.nextafter(rho, 0.0))
    else:
        return 1.0
    if not rho.is_integer():  # e.g. int(49 * (1 / 49)) == 0: give a readable value just below max_count
        readable = math.floor(rho * 1e6) / 1e6
        if min(_raw_counts(max_count, num_classes, readable, profile)) >= 1:
            rho = readable
    return rho


def _format_rho(rho: float) -> str:
    return f"{rho:g}" if float(rho).is_integer() else repr(float(rho))


def long_tail_counts(
    max_count: int,
    num_classes: int,
    imbalance_factor: float,
    profile: str = "exp",
    *,
    class_names: Sequence[str] | None = None,
) -> list[int]:
    """Per-class example counts of a long-tailed split, head class first.

    Args:
        max_count (`int`): size of the largest (first) class, `n_max`.
        num_classes (`int`): number of classes `K`.
        imbalance_factor (`float`): ratio `rho = n_max / n_min >= 1`.
        profile (`str`, *optional*, defaults to `"exp"`): one of `PROFILES`.
            `"exp"`: `n_k = int(n_max * (1/rho) ** (k / (K - 1)))` (LDAM-DRW);
            `"step"`: the first `K // 2` classes keep `n_max`, the others get `int(n_max / rho)` (for odd `K` the
            extra class joins the reduced half; LDAM-DRW silently drops it).
        class_names (`Sequence[str]`, *optional*): only used to name a class in error messages.

    Returns:
        `list[int]` of length `K`.

    Raises:
        `ValueError`: for `rho < 1` or not a number, an unknown profile, or when a class would get 0 examples (the
        message names the class and the largest `rho` that works).
    """
    rho = check_imbalance_factor(imbalance_factor)
    _check_choice("profile", profile, PROFILES)
    max_count = _check_positive_int("max_count", max_count)
    num_classes = _check_positive_int("num_classes", num_classes)
    counts = _raw_counts(max_count, num_classes, rho, profile)
    empty = [k for k, n in enumerate(counts) if n < 1]
    if empty:
        k = empty[0]
        name = f" ({class_names[k]!r})" if class_names is not None and k < len(class_names) else ""
        best = _largest_valid_rho(max_count, num_classes, profile)
        raise ValueError(
            f"imbalance_factor={imbalance_factor!r} leaves class {k}{name} with 0 examples"
            f"{f' (and {len(empty) - 1} more after it)' if len(empty) > 1 else ''} "
            f"(profile={profile!r}, max_count={max_count}, num_classes={num_classes}); every class needs >= 1. "
            f"The largest imbalance_factor that works is {_format_rho(best)}: lower imbalance_factor or raise "
            "max_count."
        )
    return counts


def get_labels(dataset: Any, label_column: str = "label") -> np.ndarray:
    """Read the integer labels of a `datasets.Dataset` without touching any other column (no image decoding).

    Honours `select` indices (unlike `dataset.data.column(...)`, which reads the underlying Arrow table).

    Returns:
        `np.ndarray` of shape `(num_rows,)`, dtype `int64`.
    """
    columns = list(dataset.column_names)
    if label_column not in columns:
        raise ValueError(
            f"label_column={label_column!r} is not a column of this dataset; its columns are {columns}. "
            "Pass the right name with label_column=..."
        )
    if len(dataset) == 0:
        return np.zeros(0, dtype=np.int64)
    # Arrow format, then one conversion: ~4x faster than the numpy format on an index-mapped dataset, and unlike
    # `dataset.data.column(...)` it honours `select` indices.
    table = dataset.select_columns([label_column]).with_format("arrow")[:]
    labels = table.column(label_column).to_numpy()
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.bool_)):
        raise ValueError(
            f"label_column={label_column!r} holds {labels.dtype} values of shape {labels.shape[1:]}, not one integer "
            "class id per example; encode it first, e.g. dataset.class_encode_column(label_column)."
        )
    return labels.astype(np.int64, copy=False)


def _num_classes_and_names(dataset: Any, label_column: str, labels: np.ndarray) -> tuple[int, list[str] | None]:
    """Number of classes from a `ClassLabel` feature (checked against the labels), else `max(label) + 1`."""
    from datasets import ClassLabel

    feature = dataset.features.get(label_column) if dataset.features is not None else None
    if isinstance(feature, ClassLabel):
        k = feature.num_classes
        bad = labels[(labels < 0) | (labels >= k)]
        if bad.size:
            raise ValueError(
                f"label_column={label_column!r} holds {bad.size} labels outside the ClassLabel range [0, {k}) "
                f"(e.g. {sorted(set(bad[:1000].tolist()))[:5]}); every example needs a class id in [0, {k}). "
                "Drop those rows with dataset.filter(...) or cast the column to a ClassLabel with all class names."
            )
        return k, list(feature.names)
    bad = labels[labels < 0]
    if bad.size:
        raise ValueError(
            f"label_column={label_column!r} holds {bad.size} negative labels (e.g. {sorted(set(bad.tolist()))[:5]}); "
            "class ids must be >= 0. Drop unlabelled rows (label -1) with dataset.filter(...) first."
        )
    return (int(labels.max()) + 1 if labels.size else 0), None


def long_tail_indices(
    labels: Sequence[int] | np.ndarray,
    imbalance_factor: float,
    *,
    num_classes: int | None = None,
    profile: str = "exp",
    selection: str = "ldam",
    seed: int = 0,
    max_count: int | None = None,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Indices of a long-tailed subset of a labelled collection.

    Args:
        labels (`Sequence[int]` or `np.ndarray` of shape `(num_examples,)`): class id of each example, in file order.
        imbalance_factor (`float`): `rho = n_max / n_min >= 1`.
        num_classes (`int`, *optional*): defaults to `max(labels) + 1`.
        profile (`str`, *optional*, defaults to `"exp"`): one of `PROFILES`, see [`long_tail_counts`].
        selection (`str`, *optional*, defaults to `"ldam"`): one of `SELECTIONS`.
            `"ldam"`: `RandomState(seed)`, then per class in label order shuffle its indices and keep the first `n_k`;
            the result is in LDAM-DRW's order (class-blocked, shuffled within a class), index for index.
            `"first"`: the first `n_k` examples of each class in file order. `"random"`: `n_k` examples per class
            drawn with `np.random.default_rng(seed)`. Both return indices in file order.
        seed (`int`, *optional*, defaults to 0): seed of the local RNG (the global RNGs are never used).
        max_count (`int`, *optional*): `n_max`; defaults to the size of the smallest class, which is the per-class
            size of a balanced dataset (5,000 for CIFAR-10).
        class_names (`Sequence[str]`, *optional*): used in error messages.

    Returns:
        `np.ndarray` of shape `(sum(n_k),)`, dtype `int64`.
    """
    _check_choice("selection", selection, SELECTIONS)
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"labels must be a 1-D sequence of integer class ids, got shape {labels.shape}, {labels.dtype}."
        )
    labels = labels.astype(np.int64, copy=False)
    if labels.size == 0:
        raise ValueError("The dataset is empty; a long-tailed subset needs at least one example per class.")
    if labels.min() < 0:
        raise ValueError(f"labels must be >= 0, found {int(labels.min())}; drop unlabelled rows first.")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    elif labels.max() >= num_classes:
        raise ValueError(
            f"labels go up to {int(labels.max())} but num_classes={num_classes}; pass num_classes > max label."
        )
    available = np.bincount(labels, minlength=num_classes)
    name = (lambda k: f" ({class_names[k]!r})") if class_names is not None else (lambda k: "")
    missing = np.flatnonzero(available == 0)
    if missing.size:
        k = int(missing[0])
        raise ValueError(
            f"class {k}{name(k)} has no examples ({missing.size} empty classes of {num_classes}); a long-tailed "
            "subset needs every class. Remove empty classes from the label space or use a complete split."
        )
    if max_count is None:
        max_count = int(available.min())
    counts = long_tail_counts(max_count, num_classes, imbalance_factor, profile, class_names=class_names)
    short = [k for k in range(num_classes) if counts[k] > available[k]]
    if short:
        k = short[0]
        raise ValueError(
            f"class {k}{name(k)} has {int(available[k])} examples but profile={profile!r} with max_count={max_count} "
            f"asks for {counts[k]}; pass max_count <= {int(available.min())} (or leave it unset)."
        )

    if selection == "ldam":
        rng = np.random.RandomState(seed)
        parts = []
        for k in range(num_classes):
            idx = np.where(labels == k)[0]
            rng.shuffle(idx)
            parts.append(idx[: counts[k]])
        return np.concatenate(parts).astype(np.int64)
    if selection == "first":
        parts = [np.flatnonzero(labels == k)[: counts[k]] for k in range(num_classes)]
    else:
        rng = np.random.default_rng(seed)
        parts = [rng.choice(np.flatnonzero(labels == k), counts[k], replace=False) for k in range(num_classes)]
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _long_tail_record(
    rho: float, profile: str, selection: str, seed: int, max_count: int, counts: list[int], source_size: int
) -> dict[str, Any]:
    return {
        "imbalance_factor": rho,
        "profile": profile,
        "selection": selection,
        "seed": seed,
        "max_count": max_count,
        "num_examples": int(sum(counts)),
        "source_num_examples": int(source_size),
        "class_counts": [int(c) for c in counts],
    }


def set_long_tail_info(dataset: Any, record: dict[str, Any]) -> None:
    """Write `record` into `dataset.info.description` (kept by `save_to_disk`), replacing an earlier record."""
    info = dataset.info
    kept = [line for line in (info.description or "").splitlines() if not line.startswith(_INFO_MARKER)]
    summary = (
        f"Long-tailed subset: imbalance factor {record['imbalance_factor']:g}, {record['profile']} profile, "
        f"{record['selection']} selection (seed {record['seed']}), {record['num_examples']} examples."
    )
    kept = [line for line in kept if not line.startswith("Long-tailed subset: ")]
    info.description = "\n".join([*kept, summary, _INFO_MARKER + json.dumps(record)]).strip()


def long_tail_info(dataset: Any) -> dict[str, Any] | None:
    """The record of how a long-tailed split was made (`imbalance_factor`, `profile`, `selection`, `seed`,
    `max_count`, `class_counts`, ...), or `None` for a dataset not made by [`make_long_tailed`] or our builders.

    It lives in `dataset.info.description`, which `save_to_disk`/`load_from_disk` keep; `push_to_hub` does not
    publish the description (the Hub config name `rho<ρ>` and the labels still give it).
    """
    for line in (dataset.info.description or "").splitlines():
        if line.startswith(_INFO_MARKER):
            return json.loads(line[len(_INFO_MARKER) :])
    return None


def make_long_tailed(
    dataset: Any,
    imbalance_factor: float,
    *,
    label_column: str = "label",
    profile: str = "exp",
    selection: str = "ldam",
    seed: int = 0,
    max_count: int | None = None,
) -> Any:
    """Long-tailed subset of a classification `datasets.Dataset`, by index only (`dataset.select(indices)`).

    Only the label column is read; images are not decoded. With the defaults this reproduces, index for index and in
    the same order, LDAM-DRW's `IMBALANCECIFAR` (CIFAR-10-LT at rho=100: 12,406 images; CIFAR-100-LT: 10,847) when
    `dataset` is in torchvision's file order. The record of the subset is written to `info.description`
    (see [`long_tail_info`]) and [`class_counts`] recovers the counts.

    Args:
        dataset (`datasets.Dataset`): a classification dataset; a `ClassLabel` label feature fixes the number of
            classes and the valid label range.
        imbalance_factor (`float`): `rho = n_max / n_min >= 1`.
        label_column (`str`, *optional*, defaults to `"label"`).
        profile, selection, seed, max_count: see [`long_tail_indices`].

    Returns:
        `datasets.Dataset`: the subset (same features).
    """
    check_imbalance_factor(imbalance_factor)
    labels = get_labels(dataset, label_column)
    num_classes, names = _num_classes_and_names(dataset, label_column, labels)
    indices = long_tail_indices(
        labels,
        imbalance_factor,
        num_classes=num_classes,
        profile=profile,
        selection=selection,
        seed=seed,
        max_count=max_count,
        class_names=names,
    )
    subset = dataset.select(indices)
    counts = np.bincount(labels[indices], minlength=num_classes).tolist()
    if max_count is None:
        max_count = int(np.bincount(labels, minlength=num_classes).min())
    set_long_tail_info(
        subset,
        _long_tail_record(float(imbalance_factor), profile, selection, seed, max_count, counts, len(dataset)),
    )
    return subset


def class_counts(dataset: Any, label_column: str = "label") -> list[int]:
    """Number of examples per class, read from the labels (no image decoding).

    Args:
        dataset (`datasets.Dataset`): with a `ClassLabel` label feature the list has one entry per class (zeros
            included); otherwise its length is `max(label) + 1`.
        label_column (`str`, *optional*, defaults to `"label"`).

    Returns:
        `list[int]` of length `num_classes`.
    """
    labels = get_labels(dataset, label_column)
    num_classes, _ = _num_classes_and_names(dataset, label_column, labels)
    return np.bincount(labels, minlength=num_classes).astype(int).tolist()


def shot_groups(class_counts: Sequence[int], many: int = 100, few: int = 20) -> dict[str, list[int]]:
    """Split classes into many-shot (`n > many`), medium-shot (`few <= n <= many`) and few-shot (`n < few`).

    The defaults are those of DisA, RBL and BALMS (> 100, 20-100, < 20 training images); OLTR counts a class with
    exactly 100 images as many-shot, i.e. `many=99`.

    Args:
        class_counts (`Sequence[int]` of length `num_classes`): training examples per class.
        many (`int`, *optional*, defaults to 100), few (`int`, *optional*, defaults to 20): thresholds.

    Returns:
        `dict` with keys `"many"`, `"medium"`, `"few"`, each a sorted list of class ids.
    """
    if few > many:
        raise ValueError(f"few={few} must be <= many={many} (many-shot: n > many, few-shot: n < few).")
    counts = [int(c) for c in class_counts]
    return {
        "many": [k for k, n in enumerate(counts) if n > many],
        "medium": [k for k, n in enumerate(counts) if few <= n <= many],
        "few": [k for k, n in enumerate(counts) if n < few],
    }
