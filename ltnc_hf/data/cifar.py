"""CIFAR-10-LT / CIFAR-100-LT (Krizhevsky, 2009; long-tailed as in LDAM-DRW, Cao et al., 2019).

Sources, in order: a local copy in `data_dir` (the python-pickle folders `cifar-10-batches-py` / `cifar-100-python`
from cs.toronto.edu, which torchvision also reads, or a `datasets` folder written by `save_to_disk`), else the Hub
datasets `uoft-cs/cifar10` / `uoft-cs/cifar100`.

The LDAM-DRW subset is defined on torchvision's train order (`data_batch_1` ... `data_batch_5`), which the pickle
folders give exactly. The Hub copy of CIFAR-10 was produced by a loading script that emitted the train batches in the
tar archive's member order rather than by batch name, and that order has not been checked against torchvision's here:
on the Hub copy the `"ldam"` selection gives the same class counts, but use the pickle folder to be sure of getting the
papers' images. CIFAR-100 has a single `train` file, so both sources share one order.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import arrays_to_dataset, long_tailed_from_arrays, normalise_columns
from .long_tail import check_imbalance_factor, make_long_tailed

__all__ = ["CIFAR_NAMES", "load_cifar_lt", "load_cifar10_lt", "load_cifar100_lt"]

CIFAR_NAMES = ("cifar10", "cifar100")

_PICKLE_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_HUB_IDS = {"cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100"}


def _canonical_name(name: str) -> str:
    key = str(name).lower().replace("-", "").replace("_", "")
    key = key[:-2] if key.endswith("lt") else key
    if key not in CIFAR_NAMES:
        raise ValueError(f"Unknown CIFAR name {name!r}; expected one of {CIFAR_NAMES}.")
    return key


def _unpickle(path: Path) -> dict:
    # The official CIFAR files are Python pickles; only load copies from a source you trust.
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _to_hwc(flat: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(flat, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def read_cifar_pickles(name: str, folder: str | os.PathLike) -> dict[str, Any]:
    """Read the python-pickle CIFAR folder in torchvision's order.

    Returns:
        `dict` with `train_images`/`test_images` (uint8 of shape `(N, 32, 32, 3)`), `train_labels`/`test_labels`
        (int64 of shape `(N,)`) and `class_names`.
    """
    name = _canonical_name(name)
    folder = Path(folder)
    if name == "cifar10":
        train = [_unpickle(folder / f"data_batch_{i}") for i in range(1, 6)]
        test = _unpickle(folder / "test_batch")
        class_names = _unpickle(folder / "batches.meta")["label_names"]
        key = "labels"
        train_images = np.concatenate([_to_hwc(b["data"]) for b in train])
        train_labels = np.concatenate([np.asarray(b[key], dtype=np.int64) for b in train])
    else:
        train_batch = _unpickle(folder / "train")
        test = _unpickle(folder / "test")
        class_names = _unpickle(folder / "meta")["fine_label_names"]
        key = "fine_labels"
        train_images = _to_hwc(train_batch["data"])
        train_labels = np.asarray(train_batch[key], dtype=np.int64)
    return {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": _to_hwc(test["data"]),
        "test_labels": np.asarray(test[key], dtype=np.int64),
        "class_names": list(class_names),
    }


def _find_pickle_folder(name: str, data_dir: Path) -> Path | None:
    marker = "data_batch_1" if name == "cifar10" else "train"
    for folder in (data_dir / _PICKLE_DIRS[name], data_dir):
        if (folder / marker).is_file():
            return folder
    return None


def load_cifar_lt(
    name: str,
    imbalance_factor: float,
    *,
    data_dir: str | os.PathLike | None = None,
    profile: str = "exp",
    selection: str = "ldam",
    seed: int = 0,
    max_count: int | None = None,
    cache_dir: str | None = None,
) -> Any:
    """CIFAR-10-LT or CIFAR-100-LT: a long-tailed `train` split and the full, balanced `test` split.

    Args:
        name (`str`): `"cifar10"` or `"cifar100"` (`"cifar-10"`, `"CIFAR100-LT"`... are accepted).
        imbalance_factor (`float`): `rho = n_max / n_min >= 1` (100, 50 and 10 in the papers).
        data_dir (`str`, *optional*): a folder holding `cifar-10-batches-py` / `cifar-100-python` (or that folder
            itself), or a `DatasetDict` saved with `save_to_disk` (splits `train`, `test`). Without it the data comes
            from the Hub (`uoft-cs/cifar10`, `uoft-cs/cifar100`); see the module docstring about the Hub's row order.
        profile, selection, seed, max_count: see [`long_tail_indices`]; the defaults give LDAM-DRW's subset.
        cache_dir (`str`, *optional*): `datasets` cache folder for the Hub download.

    Returns:
        `datasets.DatasetDict` with splits `train` (long-tailed) and `test`, features `image` (`Image`) and `label`
        (`ClassLabel`); `long_tail_info(result["train"])` records how the subset was made.
    """
    name = _canonical_name(name)
    check_imbalance_factor(imbalance_factor)
    from datasets import DatasetDict, load_dataset, load_from_disk

    kwargs = {"profile": profile, "selection": selection, "seed": seed, "max_count": max_count}
    if data_dir is not None:
        data_dir = Path(data_dir)
        folder = _find_pickle_folder(name, data_dir)
        if folder is not None:
            raw = read_cifar_pickles(name, folder)
            train = long_tailed_from_arrays(
                raw["train_images"], raw["train_labels"], raw["class_names"], imbalance_factor, **kwargs
            )
            test = arrays_to_dataset(raw["test_images"], raw["test_labels"], raw["class_names"])
            return DatasetDict({"train": train, "test": test})
        if (data_dir / "dataset_dict.json").is_file():
            full = load_from_disk(str(data_dir))
        else:
            raise FileNotFoundError(
                f"data_dir={str(data_dir)!r} holds neither the python-pickle folder {_PICKLE_DIRS[name]!r} nor a "
                "`datasets` folder saved with save_to_disk (dataset_dict.json). Point data_dir at one of them, or "
                "leave data_dir=None to load from the Hub."
            )
    else:
        try:
            full = load_dataset(_HUB_IDS[name], cache_dir=cache_dir)
        except Exception as err:  # offline, no cache, Hub error: say what to do instead
            raise RuntimeError(
                f"Could not load {_HUB_IDS[name]!r} from the Hub ({type(err).__name__}: {err}). Pass "
                f"data_dir=<folder with {_PICKLE_DIRS[name]}> to use a local copy."
            ) from err
    missing = [s for s in ("train", "test") if s not in full]
    if missing:
        raise ValueError(f"The CIFAR source has splits {list(full)}; it needs 'train' and 'test' (missing {missing}).")
    splits = {
        s: normalise_columns(full[s], ("image", "img"), ("label", "fine_label", "labels")) for s in ("train", "test")
    }
    train = make_long_tailed(splits["train"], imbalance_factor, **kwargs)
    return DatasetDict({"train": train, "test": splits["test"]})


def load_cifar10_lt(imbalance_factor: float, **kwargs: Any) -> Any:
    """[`load_cifar_lt`] with `name="cifar10"`."""
    return load_cifar_lt("cifar10", imbalance_factor, **kwargs)


def load_cifar100_lt(imbalance_factor: float, **kwargs: Any) -> Any:
    """[`load_cifar_lt`] with `name="cifar100"`."""
    return load_cifar_lt("cifar100", imbalance_factor, **kwargs)
