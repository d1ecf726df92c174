"""Transforms: shapes/dtypes of every recipe for grayscale and RGB inputs, what the CIFAR recipe and Cutout do,
reproducibility from torch's RNG, and the lazy `with_transform` wrapper."""

import random

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image
from PIL import Image as PILImage

from ltnc_hf.data import TRANSFORM_NAMES, create_transform, with_image_transforms


def rgb(size=32, seed=0):
    return PILImage.fromarray(np.random.RandomState(seed).randint(0, 256, (size, size, 3), dtype=np.uint8))


def gray(size=28, seed=0):
    return PILImage.fromarray(np.random.RandomState(seed).randint(0, 256, (size, size), dtype=np.uint8))


def run(transform, image, seed=0, python_seed=None):
    """Apply `transform` with torch's RNG (and optionally Python's) seeded, restoring their states afterwards."""
    state = random.getstate()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            if python_seed is not None:
                random.seed(python_seed)
            return transform(image)
    finally:
        random.setstate(state)


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("in_chans", [1, 3])
@pytest.mark.parametrize("train", [True, False])
def test_shapes_and_dtypes(name, in_chans, train):
    size = 40 if name == "imagenet" else 32
    transform = create_transform(name, train=train, image_size=size, in_chans=in_chans)
    for image in (rgb(32), gray(28), rgb(32).convert("RGBA")):
        x = run(transform, image)
        expected = (in_chans, 28, 28) if name == "none" and image.size == (28, 28) else (in_chans, size, size)
        assert x.shape == expected and x.dtype == torch.float32


def test_cifar_eval_is_normalisation_only():
    image = rgb(32, seed=1)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    x = create_transform("cifar", train=False, image_size=32, mean=mean, std=std)(image)
    ref = (np.asarray(image, dtype=np.float32) / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(x.numpy(), ref.transpose(2, 0, 1), atol=1e-5)
    gx = create_transform("cifar", train=False, image_size=32, in_chans=1, mean=(0.5,), std=(0.5,))(gray(28))
    assert gx.shape == (1, 32, 32)  # resized when the size differs


def test_cifar_train_is_a_padded_crop_maybe_flipped():
    image = rgb(32, seed=2)
    array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    padded = np.pad(array, ((0, 0), (4, 4), (4, 4)))
    transform = create_transform("cifar", train=True, image_size=32, mean=(0, 0, 0), std=(1, 1, 1))
    seen_flip = set()
    for seed in range(12):
        x = run(transform, image, seed).numpy()
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if np.allclose(x, (lambda w: w[:, :, ::-1] if flip else w)(padded[:, dy : dy + 32, dx : dx + 32]))
        ]
        assert matches, f"seed {seed}: output is not a (flipped) 32x32 window of the 4-padded image"
        seen_flip.add(matches[0][2])
    assert seen_flip == {False, True}


def test_cutout_zeroes_one_square():
    image = PILImage.fromarray(np.full((32, 32, 3), 200, dtype=np.uint8))
    transform = create_transform("cifar", train=True, image_size=32, cutout=8)
    for seed in range(5):
        x = run(transform, image, seed)
        zero = (x == 0).all(dim=0)
        assert int(zero.sum()) == 64
        rows, cols = torch.nonzero(zero, as_tuple=True)
        assert int(rows.max() - rows.min()) == 7 and int(cols.max() - cols.min()) == 7


@pytest.mark.parametrize("name", ["cifar", "cifar_autoaugment", "cifar_randaugment", "imagenet"])
def test_augmentations_reproducible_from_seeds(name):
    size = 32
    # the CIFAR recipes use torch's RNG only; timm's random-resized crop also uses Python's `random`
    python = (lambda s: s) if name == "imagenet" else (lambda s: None)
    for in_chans, image in ((3, rgb(size, seed=3)), (1, gray(size, seed=3))):
        transform = create_transform(name, train=True, image_size=size, in_chans=in_chans)
        a = [run(transform, image, seed, python(seed)) for seed in range(40)]
        b = [run(transform, image, seed, python(seed)) for seed in range(40)]
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        assert len({x.numpy().tobytes() for x in a}) > 30  # really random across seeds


def test_imagenet_options_are_forwarded_and_validated():
    erase_all = create_transform("imagenet", train=True, image_size=32, re_prob=1.0)
    plain = create_transform("imagenet", train=True, image_size=32)
    assert not torch.equal(run(erase_all, rgb(48), 0), run(plain, rgb(48), 0))
    assert create_transform("imagenet", train=False, image_size=48)(rgb(64)).shape == (3, 48, 48)
    with pytest.raises(ValueError, match=r"Options \['re_prob'\] are timm create_transform options"):
        create_transform("cifar", train=True, image_size=32, re_prob=1.0)


def test_bad_transform_arguments():
    with pytest.raises(ValueError, match=r"Unknown transform 'cifar10'; expected one of \('cifar', "):
        create_transform("cifar10", train=True, image_size=32)
    with pytest.raises(ValueError, match=r"one value per channel \(in_chans=1\)"):
        create_transform("cifar", train=True, image_size=32, in_chans=1, mean=(0.5, 0.5, 0.5), std=(0.2,))
    with pytest.raises(ValueError, match="cutout is a training augmentation"):
        create_transform("cifar", train=False, image_size=32, cutout=16)
    with pytest.raises(ValueError, match="in_chans=4 is not supported"):
        create_transform("cifar", train=True, image_size=32, in_chans=4)


def _image_dict():
    rng = np.random.RandomState(0)
    features = Features({"image": Image(), "label": ClassLabel(num_classes=3)})

    def split(n):
        images = rng.randint(0, 256, (n, 28, 28), dtype=np.uint8)
        return Dataset.from_dict({"image": list(images), "label": [k % 3 for k in range(n)]}, features=features)

    return DatasetDict({"train": split(6), "test": split(4)})


def test_with_image_transforms_lazy_and_collatable():
    dd = _image_dict()
    train_tf = create_transform("cifar", train=True, image_size=32, in_chans=3)
    eval_tf = create_transform("cifar", train=False, image_size=32, in_chans=3)
    out = with_image_transforms(dd, train_tf, eval_tf)
    example = out["test"][1]
    assert set(example) == {"pixel_values", "labels"}
    assert example["pixel_values"].shape == (3, 32, 32) and example["labels"] == 1
    assert torch.equal(example["pixel_values"], eval_tf(dd["test"][1]["image"]))  # eval split: eval transform
    loader = torch.utils.data.DataLoader(out["train"], batch_size=4)
    batch = next(iter(loader))
    assert batch["pixel_values"].shape == (4, 3, 32, 32) and batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].tolist() == [0, 1, 2, 0] and batch["labels"].dtype == torch.int64
    assert dd["train"].column_names == ["image", "label"]  # original untouched
    as_dict = with_image_transforms({"test": dd["test"]}, train_tf, eval_tf)
    assert isinstance(as_dict, DatasetDict) and torch.equal(
        as_dict["test"][1]["pixel_values"], example["pixel_values"]
    )
    with pytest.raises(TypeError, match="Expected a datasets.DatasetDict"):
        with_image_transforms([dd["test"]], train_tf, eval_tf)
    single = with_image_transforms(dd["test"], None, None)[0]
    assert single["pixel_values"].shape == (1, 28, 28)
    with pytest.raises(ValueError, match=r"label_column='target' is not a column of split 'train'"):
        with_image_transforms(dd, train_tf, eval_tf, label_column="target")
