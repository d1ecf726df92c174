"""Real data: Fashion-MNIST-LT built from the IDX files of Debian's `dataset-fashion-mnist`."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, Features, Image

from ltnc_hf.data import (
    DEFAULT_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    class_counts,
    load_fashion_mnist_lt,
    long_tail_info,
    make_long_tailed,
    read_fashion_mnist,
    read_idx,
)

FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
missing = [f for f in FILES if not (Path(DEFAULT_FASHION_MNIST_DIR) / f).is_file()]
pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"Fashion-MNIST IDX files {missing} not in {DEFAULT_FASHION_MNIST_DIR} "
    "(install them with `apt-get install dataset-fashion-mnist`)",
)


@pytest.fixture(scope="module")
def raw():
    return read_fashion_mnist()


@pytest.fixture(scope="module")
def fmnist_lt():
    return load_fashion_mnist_lt(100)


def reference_ldam_indices(labels, n_per_class, seed=0):
    """Independent LDAM-DRW selection: global RNG seeded once (restored afterwards), shuffle per class, keep n_k."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        out = []
        for c, n in zip(np.unique(labels), n_per_class):
            idx = np.where(labels == c)[0]
            np.random.shuffle(idx)
            out.append(idx[:n])
        return np.concatenate(out)
    finally:
        np.random.set_state(state)


def test_raw_files(raw):
    assert raw["train_images"].shape == (60000, 28, 28) and raw["train_images"].dtype == np.uint8
    assert raw["test_images"].shape == (10000, 28, 28)
    assert np.bincount(raw["train_labels"]).tolist() == [6000] * 10
    assert np.bincount(raw["test_labels"]).tolist() == [1000] * 10


def test_fashion_mnist_lt_rho100_counts(fmnist_lt):
    expected = [int(6000 * 0.01 ** (k / 9)) for k in range(10)]
    assert class_counts(fmnist_lt["train"]) == expected
    assert len(fmnist_lt["train"]) == sum(expected) == 14886
    assert len(fmnist_lt["test"]) == 10000
    assert class_counts(fmnist_lt["test"]) == [1000] * 10
    assert long_tail_info(fmnist_lt["train"])["class_counts"] == expected
    features = fmnist_lt["train"].features
    assert isinstance(features["image"], Image) and isinstance(features["label"], ClassLabel)
    assert features["label"].names == list(FASHION_MNIST_CLASSES)


def test_fashion_mnist_lt_is_the_ldam_subset(raw, fmnist_lt):
    expected = [int(6000 * 0.01 ** (k / 9)) for k in range(10)]
    ref = reference_ldam_indices(raw["train_labels"], expected)
    train = fmnist_lt["train"]
    assert train["label"][:] == raw["train_labels"][ref].tolist()
    for j in (0, 5000, len(train) - 1):
        image = train[j]["image"]
        assert image.mode == "L" and image.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(image), raw["train_images"][ref[j]])
    np.testing.assert_array_equal(np.asarray(fmnist_lt["test"][123]["image"]), raw["test_images"][123])
    # make_long_tailed on the full (labels-only) train split picks the same rows
    labels_only = Dataset.from_dict(
        {"label": raw["train_labels"]}, features=Features({"label": ClassLabel(names=list(FASHION_MNIST_CLASSES))})
    )
    assert make_long_tailed(labels_only, 100)["label"][:] == train["label"][:]


def test_read_idx_rejects_bad_files(tmp_path, raw):
    with gzip.open(Path(DEFAULT_FASHION_MNIST_DIR) / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        data = f.read()
    (tmp_path / "ok").write_bytes(data)
    np.testing.assert_array_equal(read_idx(tmp_path / "ok"), raw["test_labels"])
    (tmp_path / "short").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist_lt(10, data_dir=tmp_path)
