"""Datasets described by list files, one `relative/path label` per line: ImageNet-LT and Places-LT (OLTR, Liu et al.,
2019), or any folder of images with such files.

Images stay on disk: the `Image()` column stores their paths and decodes them lazily when an example is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_list_file", "load_list_file_dataset", "load_imagenet_lt", "load_places_lt", "LT_SPLITS"]

LT_SPLITS = ("train", "val", "test")
_MAX_SHOWN = 5


def read_list_file(list_file: str | os.PathLike) -> tuple[list[str], list[int]]:
    """Parse a list file: one `relative/path label` per line (the path may contain spaces; blank lines skipped).

    Returns:
        `(paths, labels)`: the relative paths as written and the integer labels.
    """
    paths: list[str] = []
    labels: list[int] = []
    with open(list_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ValueError(
                    f"{str(list_file)!r} line {lineno}: {line!r} is not `relative/path label` (a path, a space and an "
                    "integer class id). Fix or remove that line."
                )
            paths.append(parts[0])
            labels.append(int(parts[1]))
    return paths, labels


def _resolve_inside(root: str, relative: str, list_file: Any, lineno: int) -> str:
    """`root/relative`, refusing paths that leave `root` (lexically, so symlinked folders inside root still work)."""
    full = os.path.normpath(os.path.join(root, relative))
    if full != root and not full.startswith(root.rstrip(os.sep) + os.sep):
        raise ValueError(
            f"{str(list_file)!r} entry {lineno} names {relative!r}, which resolves to {full!r} outside root {root!r}; "
            "list files must give paths relative to root without '..' or absolute paths leaving it. Fix the list "
            "file or pass the right root."
        )
    return full


def _infer_class_names(paths: Sequence[str], labels: Sequence[int], num_classes: int) -> list[str] | None:
    """Name class k after the parent folder of its images when every class has exactly one, distinct, folder name."""
    folders: dict[int, set[str]] = {}
    for path, label in zip(paths, labels):
        folders.setdefault(label, set()).add(os.path.basename(os.path.dirname(path)))
    if len(folders) != num_classes or any(len(v) != 1 or "" in v for v in folders.values()):
        return None
    names = [next(iter(folders[k])) for k in range(num_classes)]
    return names if len(set(names)) == num_classes else None


def load_list_file_dataset(
    root: str | os.PathLike,
    list_file: str | os.PathLike | Mapping[str, str | os.PathLike],
    *,
    split: str = "train",
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    check_files: bool = True,
) -> Any:
    """Image classification splits from list files (`relative/path label` per line, paths relative to `root`).

    Args:
        root (`str`): the folder the paths are relative to. A path that leaves it (`..`, absolute) is an error.
        list_file (`str` or `Mapping[str, str]`): one list file (becomes split `split`) or `{split_name: list_file}`.
        split (`str`, *optional*, defaults to `"train"`): split name for a single list file.
        num_classes (`int`, *optional*): defaults to the largest label over all files plus one.
        class_names (`Sequence[str]`, *optional*): defaults to the images' folder names when each class lives in
            exactly one folder of its own in the first split (ImageNet-LT: WordNet ids; Places-LT: scene names),
            else `"0"`, `"1"`, ...
        check_files (`bool`, *optional*, defaults to `True`): check that every listed image exists (one `stat` per
            image); a `ValueError` says how many are missing and names the first few.

    Returns:
        `datasets.DatasetDict` with one split per list file, features `image` (`Image`, stored as paths, decoded
        lazily) and `label` (`ClassLabel`).
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image

    root_str = os.path.normpath(os.path.abspath(os.fspath(root)))
    if not os.path.isdir(root_str):
        raise FileNotFoundError(f"root={str(root)!r} is not a folder; pass the folder the list-file paths start from.")
    files = dict(list_file) if isinstance(list_file, Mapping) else {split: list_file}
    parsed: dict[str, tuple[list[str], list[int], list[str]]] = {}
    for name, path in files.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"List file {str(path)!r} (split {name!r}) does not exist.")
        rel, labels = read_list_file(path)
        if not rel:
            raise ValueError(f"List file {str(path)!r} (split {name!r}) lists no images.")
        full = [_resolve_inside(root_str, p, path, i + 1) for i, p in enumerate(rel)]
        if check_files:
            missing = [p for p in full if not os.path.isfile(p)]
            if missing:
                shown = ", ".join(repr(os.path.relpath(p, root_str)) for p in missing[:_MAX_SHOWN])
                raise ValueError(
                    f"{len(missing)} of {len(full)} images listed in {str(path)!r} are missing under root "
                    f"{root_str!r} (first {min(len(missing), _MAX_SHOWN)}: {shown}). Check root, download the missing "
                    "images, or pass check_files=False to skip this check."
                )
        parsed[name] = (rel, labels, full)

    all_labels = np.concatenate([np.asarray(v[1], dtype=np.int64) for v in parsed.values()])
    if all_labels.min() < 0:
        raise ValueError(f"Labels must be >= 0, found {int(all_labels.min())}; fix the list files.")
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else int(all_labels.max()) + 1
    if all_labels.max() >= num_classes:
        raise ValueError(
            f"The list files use labels up to {int(all_labels.max())} but num_classes={num_classes}; labels must be "
            f"in [0, {num_classes}). Pass the right num_classes/class_names or fix the list files."
        )
    if class_names is None:
        first_rel, first_labels, _ = next(iter(parsed.values()))
        class_names = _infer_class_names(first_rel, first_labels, num_classes) or [str(k) for k in range(num_classes)]
    elif len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names but num_classes={num_classes}; make them agree.")
    features = Features({"image": Image(), "label": ClassLabel(names=list(class_names))})
    return DatasetDict(
        {
            name: Dataset.from_dict({"image": full, "label": labels}, features=features)
            for name, (_, labels, full) in parsed.items()
        }
    )


def _load_oltr(
    prefix: str,
    root: str | os.PathLike,
    list_dir: str | os.PathLike | None,
    splits: Sequence[str],
    check_files: bool,
    class_names: Sequence[str] | None,
) -> Any:
    unknown = [s for s in splits if s not in LT_SPLITS]
    if unknown or not splits:
        raise ValueError(f"Unknown splits {unknown or list(splits)}; expected a non-empty subset of {LT_SPLITS}.")
    list_dir = Path(list_dir) if list_dir is not None else Path(root)
    files = {s: list_dir / f"{prefix}_{s}.txt" for s in splits}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Split files {missing} not found. Put {prefix}_{{train,val,test}}.txt (from the OLTR release) in "
            f"{str(list_dir)!r} or pass list_dir=..."
        )
    return load_list_file_dataset(root, files, check_files=check_files, class_names=class_names)


def load_imagenet_lt(
    root: str | os.PathLike,
    *,
    list_dir: str | os.PathLike | None = None,
    splits: Sequence[str] = LT_SPLITS,
    check_files: bool = True,
    class_names: Sequence[str] | None = None,
) -> Any:
    """ImageNet-LT (OLTR): 115,846 train images over 1,000 classes (1,280 to 5 per class), val 20,000, test 50,000.

    Args:
        root (`str`): the ImageNet folder the list-file paths are relative to (it holds `train/` and `val/`).
        list_dir (`str`, *optional*): folder with `ImageNet_LT_{train,val,test}.txt`; defaults to `root`.
        splits (`Sequence[str]`, *optional*): which of `("train", "val", "test")` to load.
        check_files, class_names: see [`load_list_file_dataset`].

    Returns:
        `datasets.DatasetDict` with the requested splits (long-tailed by construction; no imbalance factor applies).
    """
    return _load_oltr("ImageNet_LT", root, list_dir, splits, check_files, class_names)


def load_places_lt(
    root: str | os.PathLike,
    *,
    list_dir: str | os.PathLike | None = None,
    splits: Sequence[str] = LT_SPLITS,
    check_files: bool = True,
    class_names: Sequence[str] | None = None,
) -> Any:
    """Places-LT (OLTR): 62,500 train images over 365 classes (4,980 to 5 per class), val 7,300, test 36,500.

    Args:
        root (`str`): the Places-365 folder the list-file paths are relative to.
        list_dir (`str`, *optional*): folder with `Places_LT_{train,val,test}.txt`; defaults to `root`.
        splits (`Sequence[str]`, *optional*): which of `("train", "val", "test")` to load.
        check_files, class_names: see [`load_list_file_dataset`].

    Returns:
        `datasets.DatasetDict` with the requested splits (long-tailed by construction; no imbalance factor applies).
    """
    return _load_oltr("Places_LT", root, list_dir, splits, check_files, class_names)
