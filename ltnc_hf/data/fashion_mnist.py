"""Fashion-MNIST-LT (Xiao et al., 2017): 28x28 grayscale, 10 classes, 6,000 train / 1,000 test images per class.

Read from the IDX files (Debian's `dataset-fashion-mnist` installs them at `/usr/share/datasets/fashion-mnist`), or
from the Hub (`zalando-datasets/fashion_mnist`) when no local copy exists.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import arrays_to_dataset, long_tailed_from_arrays, normalise_columns
from .long_tail import check_imbalance_factor, make_long_tailed

__all__ = [
    "FASHION_MNIST_CLASSES",
    "DEFAULT_FASHION_MNIST_DIR",
    "read_idx",
    "read_fashion_mnist",
    "load_fashion_mnist_lt",
]

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_HUB_ID = "zalando-datasets/fashion_mnist"
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (optionally gzip-compressed), the format of (Fashion-)MNIST.

    Returns:
        `np.ndarray` with the shape stored in the file, e.g. `(60000, 28, 28)` uint8 for images, `(60000,)` for labels.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number {data[:4].hex()}).")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{str(path)!r} is truncated: header says {shape}, {len(data) - offset} of {expected} bytes.")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _find(data_dir: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def read_fashion_mnist(data_dir: str | os.PathLike = DEFAULT_FASHION_MNIST_DIR) -> dict[str, np.ndarray]:
    """Read the four Fashion-MNIST IDX files (`.gz` or not) from `data_dir`.

    Returns:
        `dict` with `train_images` (uint8 `(60000, 28, 28)`), `train_labels` (int64 `(60000,)`), `test_images`,
        `test_labels`.
    """
    data_dir = Path(data_dir)
    paths = {key: _find(data_dir, stem) for key, stem in _FILES.items()}
    missing = [_FILES[k] + "[.gz]" for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files {missing} are missing from {str(data_dir)!r}. Install them with "
            "`apt-get install dataset-fashion-mnist` (to /usr/share/datasets/fashion-mnist) or pass data_dir=..."
        )
    out = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        out[f"{split}_labels"] = out[f"{split}_labels"].astype(np.int64)
        if len(out[f"{split}_images"]) != len(out[f"{split}_labels"]):
            n_images, n_labels = len(out[f"{split}_images"]), len(out[f"{split}_labels"])
            raise ValueError(f"Fashion-MNIST {split}: {n_images} images but {n_labels} labels; the files are corrupt.")
    return out


def load_fashion_mnist_lt(
    imbalance_factor: float,
    *,
    data_dir: str | os.PathLike | None = None,
    profile: str = "exp",
    selection: str = "ldam",
    seed: int = 0,
    max_count: int | None = None,
    cache_dir: str | None = None,
) -> Any:
    """Fashion-MNIST-LT: a long-tailed `train` split and the full, balanced `test` split (10,000 images).

    At `imbalance_factor=100` the train split has `int(6000 * 0.01 ** (k / 9))` images of class `k`.

    Args:
        imbalance_factor (`float`): `rho = n_max / n_min >= 1`.
        data_dir (`str`, *optional*): folder with the IDX files. Defaults to `/usr/share/datasets/fashion-mnist`,
            and to the Hub (`zalando-datasets/fashion_mnist`) when that folder does not exist.
        profile, selection, seed, max_count: see [`long_tail_indices`].
        cache_dir (`str`, *optional*): `datasets` cache folder for the Hub download.

    Returns:
        `datasets.DatasetDict` with splits `train` and `test`, features `image` (`Image`, mode `L`, 28x28) and `label`
        (`ClassLabel` with the 10 Fashion-MNIST names).
    """
    check_imbalance_factor(imbalance_factor)
    from datasets import DatasetDict, load_dataset

    kwargs = {"profile": profile, "selection": selection, "seed": seed, "max_count": max_count}
    local = Path(data_dir) if data_dir is not None else Path(DEFAULT_FASHION_MNIST_DIR)
    if data_dir is not None or local.is_dir():
        raw = read_fashion_mnist(local)
        train = long_tailed_from_arrays(
            raw["train_images"], raw["train_labels"], FASHION_MNIST_CLASSES, imbalance_factor, **kwargs
        )
        test = arrays_to_dataset(raw["test_images"], raw["test_labels"], FASHION_MNIST_CLASSES)
        return DatasetDict({"train": train, "test": test})
    try:
        full = load_dataset(_HUB_ID, cache_dir=cache_dir)
    except Exception as err:  # offline, no cache, Hub error: say what to do instead
        raise RuntimeError(
            f"No local Fashion-MNIST at {DEFAULT_FASHION_MNIST_DIR!r} and {_HUB_ID!r} could not be loaded from the "
            f"Hub ({type(err).__name__}: {err}). Install `dataset-fashion-mnist` (apt) or pass data_dir=..."
        ) from err
    splits = {s: normalise_columns(full[s], ("image", "img"), ("label",)) for s in ("train", "test")}
    train = make_long_tailed(splits["train"], imbalance_factor, **kwargs)
    return DatasetDict({"train": train, "test": splits["test"]})
