"""Builders (CIFAR from pickles / a saved folder / the Hub code path, digits, list files, ImageNet-LT, Places-LT),
the registry, `build_dataset` and the count table. All data is made in the test; nothing is downloaded."""

import os
import pickle

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value, load_from_disk

from ltnc_hf.data import (
    DATASET_BUILDERS,
    build_dataset,
    class_counts,
    format_count_table,
    load_cifar_lt,
    load_digits_lt,
    load_imagenet_lt,
    load_list_file_dataset,
    load_lt_dataset,
    load_places_lt,
    long_tail_counts,
    long_tail_indices,
    long_tail_info,
)


def _to_flat(images_hwc):
    return images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), -1)


@pytest.fixture(scope="module")
def cifar10_folder(tmp_path_factory):
    """A fake `cifar-10-batches-py`: 5 train batches of 60 images (30 per class overall), a test batch of 20."""
    root = tmp_path_factory.mktemp("cifar10")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.RandomState(0)
    labels = rng.permutation(np.repeat(np.arange(10), 30))
    images = rng.randint(0, 256, size=(300, 32, 32, 3), dtype=np.uint8)
    for b in range(5):
        sl = slice(60 * b, 60 * (b + 1))
        batch = {"data": _to_flat(images[sl]), "labels": labels[sl].tolist(), "batch_label": f"batch {b + 1}"}
        with open(folder / f"data_batch_{b + 1}", "wb") as f:
            pickle.dump(batch, f)
    test_labels = np.repeat(np.arange(10), 2)
    test_images = rng.randint(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": _to_flat(test_images), "labels": test_labels.tolist()}, f)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    return {"root": root, "labels": labels, "images": images, "test_images": test_images, "names": names}


def test_cifar10_from_pickles_is_the_ldam_subset(cifar10_folder):
    dd = load_cifar_lt("CIFAR-10", 10, data_dir=cifar10_folder["root"])
    assert set(dd) == {"train", "test"}
    train, test = dd["train"], dd["test"]
    assert isinstance(train.features["image"], Image) and isinstance(train.features["label"], ClassLabel)
    assert train.features["label"].names == cifar10_folder["names"]
    expected = long_tail_indices(cifar10_folder["labels"], 10)
    assert class_counts(train) == long_tail_counts(30, 10, 10)
    assert train["label"][:] == cifar10_folder["labels"][expected].tolist()
    for j in (0, 7, len(train) - 1):  # pixels survive the round trip, image j is source image expected[j]
        np.testing.assert_array_equal(np.asarray(train[j]["image"]), cifar10_folder["images"][expected[j]])
    assert len(test) == 20 and class_counts(test) == [2] * 10
    np.testing.assert_array_equal(np.asarray(test[3]["image"]), cifar10_folder["test_images"][3])
    info = long_tail_info(train)
    assert info["imbalance_factor"] == 10 and info["class_counts"] == class_counts(train)
    # the pickle folder itself is accepted too
    again = load_cifar_lt("cifar10", 10, data_dir=cifar10_folder["root"] / "cifar-10-batches-py")
    assert again["train"]["label"][:] == train["label"][:]


def test_cifar100_from_pickles(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.RandomState(1)
    labels = rng.permutation(np.repeat(np.arange(100), 4))
    images = rng.randint(0, 256, size=(400, 32, 32, 3), dtype=np.uint8)
    for split, (imgs, labs) in {"train": (images, labels), "test": (images[:100], np.arange(100))}.items():
        with open(folder / split, "wb") as f:
            pickle.dump({"data": _to_flat(imgs), "fine_labels": labs.tolist(), "coarse_labels": [0] * len(labs)}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{k}" for k in range(100)], "coarse_label_names": ["x"]}, f)
    dd = load_cifar_lt("cifar100", 4, data_dir=tmp_path)
    assert class_counts(dd["train"]) == long_tail_counts(4, 100, 4)
    assert dd["train"]["label"][:] == labels[long_tail_indices(labels, 4)].tolist()
    assert dd["train"].features["label"].names[99] == "c99"
    assert len(dd["test"]) == 100


def _hub_like_cifar100():
    rng = np.random.RandomState(2)
    features = Features(
        {"img": Image(), "fine_label": ClassLabel(num_classes=5), "coarse_label": ClassLabel(num_classes=2)}
    )

    def split(n):
        labels = np.repeat(np.arange(5), n // 5)
        imgs = rng.randint(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
        return Dataset.from_dict({"img": list(imgs), "fine_label": labels, "coarse_label": labels % 2}, features)

    return DatasetDict({"train": split(50), "test": split(10)})


def test_cifar_from_saved_folder_normalises_columns(tmp_path):
    _hub_like_cifar100().save_to_disk(str(tmp_path / "saved"))
    dd = load_cifar_lt("cifar100", 5, data_dir=tmp_path / "saved")
    assert dd["train"].column_names == ["image", "label"] == dd["test"].column_names
    assert class_counts(dd["train"]) == long_tail_counts(10, 5, 5)
    assert len(dd["test"]) == 10


def test_cifar_hub_path_normalises_columns(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append(path)
        return _hub_like_cifar100()

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dd = load_cifar_lt("cifar100", 2)
    assert calls == ["uoft-cs/cifar100"]
    assert dd["train"].column_names == ["image", "label"]
    assert class_counts(dd["train"]) == long_tail_counts(10, 5, 2)


def test_cifar_bad_data_dir_and_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither the python-pickle folder 'cifar-10-batches-py'"):
        load_cifar_lt("cifar10", 10, data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"Unknown CIFAR name 'cifar1000'; expected one of \('cifar10', 'cifar100'\)"):
        load_cifar_lt("cifar1000", 10)


def test_digits_lt():
    dd = load_digits_lt(10)
    counts = class_counts(dd["train"])
    assert counts == long_tail_counts(124, 10, 10)  # 174 images in the smallest class, 50 of them in test
    assert class_counts(dd["test"]) == [50] * 10
    image = np.asarray(dd["test"][0]["image"])
    assert image.shape == (8, 8) and image.dtype == np.uint8 and image.max() > 200
    assert long_tail_info(dd["train"])["source_num_examples"] == 1797 - 500
    again = load_digits_lt(10)
    assert again["train"]["label"][:] == dd["train"]["label"][:]
    assert np.asarray(load_digits_lt(2, image_size=16)["train"][0]["image"]).shape == (16, 16)
    with pytest.raises(ValueError, match="data_dir='x' does not apply to the digits dataset"):
        load_digits_lt(2, data_dir="x")


# ----------------------------------------------------------------------------- list files


def _write_png(path, value=0):
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.full((5, 5, 3), value, dtype=np.uint8)).save(path)


@pytest.fixture()
def list_root(tmp_path):
    root = tmp_path / "images"
    entries = []
    for label, name, n in [(0, "n01", 4), (1, "n02", 2), (2, "n03", 1)]:
        for i in range(n):
            rel = f"train/{name}/{name}_{i}.png"
            _write_png(root / rel, value=10 * label + i)
            entries.append(f"{rel} {label}")
    (tmp_path / "train.txt").write_text("\n".join(entries) + "\n\n")
    _write_png(root / "val" / "v0.png")
    _write_png(root / "val" / "v1 with space.png")
    (tmp_path / "val.txt").write_text("val/v0.png 2\nval/v1 with space.png 0\n")
    return tmp_path, root


def test_list_file_dataset_is_lazy_and_names_classes(list_root):
    tmp, root = list_root
    dd = load_list_file_dataset(root, {"train": tmp / "train.txt", "val": tmp / "val.txt"})
    assert class_counts(dd["train"]) == [4, 2, 1]
    assert dd["train"].features["label"].names == ["n01", "n02", "n03"]
    assert dd["val"]["label"][:] == [2, 0]
    raw = dd["train"].cast_column("image", Image(decode=False))[0]["image"]
    assert raw["bytes"] is None and raw["path"] == str(root / "train/n01/n01_0.png")
    assert np.asarray(dd["train"][5]["image"])[0, 0, 0] == 11  # decoded on access
    single = load_list_file_dataset(root, tmp / "val.txt", split="test", num_classes=3)
    assert list(single) == ["test"] and single["test"].features["label"].names == ["0", "1", "2"]


@pytest.mark.parametrize("bad", ["../outside.png", "train/../../outside.png", "/etc/hostname"])
def test_list_file_paths_must_stay_inside_root(list_root, bad):
    tmp, root = list_root
    _write_png(tmp / "outside.png")
    (tmp / "bad.txt").write_text(f"train/n01/n01_0.png 0\n{bad} 1\n")
    with pytest.raises(ValueError, match=rf"entry 2 names '{bad}'.*outside root.*without '\.\.'"):
        load_list_file_dataset(root, tmp / "bad.txt")


def test_list_file_missing_images(list_root):
    tmp, root = list_root
    lines = [f"train/n01/gone_{i}.png 0" for i in range(7)] + ["train/n01/n01_0.png 0"]
    (tmp / "missing.txt").write_text("\n".join(lines))
    with pytest.raises(
        ValueError, match=r"7 of 8 images listed in .* are missing under root .*first 5: 'train/n01/gone_0"
    ):
        load_list_file_dataset(root, tmp / "missing.txt")
    assert len(load_list_file_dataset(root, tmp / "missing.txt", check_files=False)["train"]) == 8


def test_list_file_malformed_and_label_range(list_root):
    tmp, root = list_root
    (tmp / "bad.txt").write_text("train/n01/n01_0.png 0\ntrain/n01/n01_1.png\n")
    with pytest.raises(ValueError, match=r"line 2: 'train/n01/n01_1.png' is not `relative/path label`"):
        load_list_file_dataset(root, tmp / "bad.txt")
    with pytest.raises(ValueError, match=r"labels up to 2 but num_classes=2"):
        load_list_file_dataset(root, tmp / "train.txt", num_classes=2)


def test_imagenet_lt_and_places_lt_file_names(list_root):
    tmp, root = list_root
    lists = tmp / "lists"
    lists.mkdir()
    for prefix in ("ImageNet_LT", "Places_LT"):
        for split, src in (("train", "train.txt"), ("val", "val.txt"), ("test", "val.txt")):
            (lists / f"{prefix}_{split}.txt").write_text((tmp / src).read_text())
    for loader in (load_imagenet_lt, load_places_lt):
        dd = loader(root, list_dir=lists)
        assert list(dd) == ["train", "val", "test"]
        assert class_counts(dd["train"]) == [4, 2, 1] and len(dd["test"]) == 2
    assert list(load_imagenet_lt(root, list_dir=lists, splits=("val",))) == ["val"]
    with pytest.raises(FileNotFoundError, match=r"Places_LT_\{train,val,test\}\.txt"):
        load_places_lt(root)
    with pytest.raises(ValueError, match="Unknown splits"):
        load_imagenet_lt(root, list_dir=lists, splits=("training",))


# ----------------------------------------------------------------------------- registry and build_dataset


def test_registry_names_and_errors():
    assert set(DATASET_BUILDERS) >= {"cifar10", "cifar100", "fashion_mnist", "digits", "imagenet_lt", "places_lt"}
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist'; expected one of \('cifar10', 'cifar100', "):
        load_lt_dataset("mnist", 10)
    with pytest.raises(ValueError, match="does not apply to 'imagenet_lt'.*Leave imbalance_factor unset"):
        load_lt_dataset("ImageNet-LT", 10, root=".")
    with pytest.raises(ValueError, match="'digits' needs an imbalance factor"):
        load_lt_dataset("digits")
    assert class_counts(load_lt_dataset("Digits-LT", 5)["train"]) == long_tail_counts(124, 10, 5)


def test_build_dataset_saves_refuses_and_overwrites(tmp_path):
    out = tmp_path / "digits-lt"
    dd = build_dataset("digits", 10, out)
    again = load_from_disk(str(out))
    assert class_counts(again["train"]) == class_counts(dd["train"]) == long_tail_counts(124, 10, 10)
    assert long_tail_info(again["train"])["imbalance_factor"] == 10
    summary = (out / "long_tail.json").read_text()
    assert '"imbalance_factor": 10' in summary and '"class_counts"' in summary
    with pytest.raises(FileExistsError, match="exists and is not empty.*overwrite=True"):
        build_dataset("digits", 5, out)
    assert class_counts(load_from_disk(str(out))["train"]) == long_tail_counts(124, 10, 10)  # untouched
    build_dataset("digits", 5, out, overwrite=True)
    assert class_counts(load_from_disk(str(out))["train"]) == long_tail_counts(124, 10, 5)
    assert sorted(os.listdir(tmp_path)) == ["digits-lt"]  # no temporary folders left behind
    (tmp_path / "empty").mkdir()
    build_dataset("digits", 2, tmp_path / "empty")  # an empty folder is fine
    assert (tmp_path / "empty" / "dataset_dict.json").is_file()


def test_build_dataset_leaves_nothing_half_written(tmp_path, monkeypatch):
    def failing_save(self, path, **kwargs):
        with open(os.path.join(path, "dataset_dict.json"), "w") as f:
            f.write("{")
        raise OSError("disk full")

    monkeypatch.setattr(DatasetDict, "save_to_disk", failing_save)
    with pytest.raises(OSError, match="disk full"):
        build_dataset("digits", 10, tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_build_dataset_push_to_hub_config_per_rho(monkeypatch):
    pushed = []
    monkeypatch.setattr(DatasetDict, "push_to_hub", lambda self, repo, **kw: pushed.append((repo, kw, dict(self))))
    build_dataset("digits", 10, push_to_hub="user/digits-lt", hub_kwargs={"private": True})
    build_dataset("digits", 12.5, push_to_hub="user/digits-lt")
    assert [(r, kw.get("config_name"), kw.get("private")) for r, kw, _ in pushed] == [
        ("user/digits-lt", "rho10", True),
        ("user/digits-lt", "rho12.5", None),
    ]
    assert class_counts(pushed[0][2]["train"]) == long_tail_counts(124, 10, 10)
    with pytest.raises(ValueError, match="must be a Hub repo id"):
        build_dataset("digits", 10, push_to_hub=" ")


def test_format_count_table():
    table = format_count_table([150, 60, 20, 19], ["head", "mid", "edge", "tail"])
    lines = table.splitlines()
    assert lines[0].split() == ["class", "name", "count", "group"]
    assert lines[1].split() == ["0", "head", "150", "many"]
    assert lines[3].split() == ["2", "edge", "20", "medium"]
    assert lines[4].split() == ["3", "tail", "19", "few"]
    assert "total: 249 examples in 4 classes; imbalance ratio 7.9 (150 / 19)" in table
    assert "many (n > 100): 1 class, 150 examples; medium (20 <= n <= 100): 2 classes, 80 examples" in table
    assert "many (n > 10)" in format_count_table([150, 60, 20, 19], many=10, few=5)
    with pytest.raises(ValueError, match="class_names has 1 names for 4 counts"):
        format_count_table([150, 60, 20, 19], ["x"])


def test_labels_only_dataset_counts_through_value_feature():
    ds = Dataset.from_dict({"label": [0, 2, 2]}, features=Features({"label": Value("int32")}))
    assert class_counts(ds) == [1, 0, 2]


def test_fashion_mnist_hub_fallback_when_no_local_copy(monkeypatch, tmp_path):
    import datasets

    import ltnc_hf.data.fashion_mnist as fm

    def fake_load_dataset(path, **kwargs):
        assert path == "zalando-datasets/fashion_mnist"
        features = Features({"image": Image(), "label": ClassLabel(names=list(fm.FASHION_MNIST_CLASSES))})
        images = np.zeros((40, 28, 28), dtype=np.uint8)
        labels = np.tile(np.arange(10), 4)
        return DatasetDict(
            {s: Dataset.from_dict({"image": list(images), "label": labels}, features) for s in ("train", "test")}
        )

    monkeypatch.setattr(fm, "DEFAULT_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dd = fm.load_fashion_mnist_lt(4)
    assert class_counts(dd["train"]) == long_tail_counts(4, 10, 4) and len(dd["test"]) == 40
    assert long_tail_info(dd["train"])["imbalance_factor"] == 4
