"""Image transforms for long-tailed training, applied lazily with `datasets.Dataset.with_transform`.

Recipes (`TRANSFORM_NAMES`):

- `"cifar"`: the CIFAR recipe of LDAM-DRW and most CIFAR-LT papers: 4-pixel zero padding + random crop, horizontal
  flip, normalise. Evaluation: normalise only.
- `"cifar_autoaugment"`: `"cifar"` + AutoAugment with the CIFAR-10 policy (`torchvision.transforms.AutoAugment`)
  after the flip, as in PaCo / BCL / GLMC.
- `"cifar_randaugment"`: `"cifar"` + RandAugment (`torchvision.transforms.RandAugment`, 2 ops at magnitude 9 of 31 by
  default). torchvision's version draws from torch's RNG only; timm's `rand_augment_transform` also draws from
  Python's `random` and NumPy's global RNG.
- `"imagenet"`: timm's `create_transform` (random-resized crop, flip, colour jitter / centre crop for evaluation),
  extra timm options go through `**kwargs` (e.g. `auto_augment="rand-m9-mstd0.5-inc1"`, `re_prob=0.25`).
- `"basic"`: resize to `image_size`, normalise. `"none"`: to tensor only (values in [0, 1]).

Cutout (DeVries & Taylor, 2017) is `torchvision.transforms.RandomErasing(p=1, scale=(s*s/(H*W),)*2, ratio=(1, 1),
value=0)` after normalisation, as in the paper's code: a fixed `s x s` square set to 0 (the mean colour after
normalising). Unlike the original Cutout, torchvision keeps the square entirely inside the image (the original may
clip it at the border, erasing less on average).

Every recipe starts by converting the PIL image to the mode the model needs (`in_chans=1`: `"L"`, `3`: `"RGB"`), so
grayscale datasets feed RGB models and vice versa. The CIFAR recipes draw only from torch's RNG; timm's `"imagenet"`
transform also uses Python's `random` (random-resized crop). PyTorch seeds both in each DataLoader worker from its base
seed, so runs with workers are reproducible from the torch seed, as usual for augmentations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "TRANSFORM_NAMES",
    "NORMALIZATION_STATS",
    "CIFAR_MEAN",
    "CIFAR_STD",
    "ConvertMode",
    "create_transform",
    "with_image_transforms",
]

TRANSFORM_NAMES = ("cifar", "cifar_autoaugment", "cifar_randaugment", "imagenet", "basic", "none")

# LDAM-DRW's CIFAR statistics (also used for CIFAR-100 in that code base).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
NORMALIZATION_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": (CIFAR_MEAN, CIFAR_STD),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "digits": ((0.3053,), (0.3759,)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
_MODES = {1: "L", 3: "RGB"}


class ConvertMode:
    """Convert a PIL image (or a uint8 HWC/HW array) to PIL mode `mode` (`"L"` or `"RGB"`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Any) -> Any:
        from PIL import Image

        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        return image if image.mode == self.mode else image.convert(self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r})"


class ResizeIfNeeded:
    """Resize a PIL image to `size` x `size` unless it already has that size."""

    def __init__(self, size: int, interpolation: Any) -> None:
        self.size = size
        self.interpolation = interpolation

    def __call__(self, image: Any) -> Any:
        if image.size == (self.size, self.size):
            return image
        from torchvision.transforms import functional as F

        return F.resize(image, [self.size, self.size], interpolation=self.interpolation)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


def _mean_std(
    name: str, mean: Sequence[float] | None, std: Sequence[float] | None, in_chans: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    default_mean, default_std = NORMALIZATION_STATS["imagenet" if name == "imagenet" else "cifar10"]
    if mean is None:
        mean = default_mean if in_chans == 3 else (float(np.mean(default_mean)),)
    if std is None:
        std = default_std if in_chans == 3 else (float(np.mean(default_std)),)
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != in_chans or len(std) != in_chans:
        raise ValueError(
            f"mean={mean} and std={std} need one value per channel (in_chans={in_chans}); pass {in_chans} values each "
            "(e.g. NORMALIZATION_STATS['fashion_mnist'] for 1 channel)."
        )
    if any(s <= 0 for s in std):
        raise ValueError(f"std={std} must be positive.")
    return mean, std


def create_transform(
    name: str,
    *,
    train: bool,
    image_size: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    in_chans: int = 3,
    cutout: int | None = None,
    padding: int = 4,
    randaugment_ops: int = 2,
    randaugment_magnitude: int = 9,
    interpolation: str = "bilinear",
    **kwargs: Any,
) -> Callable[[Any], Any]:
    """A transform from a PIL image (any mode) to a normalised float tensor `(in_chans, image_size, image_size)`.

    Args:
        name (`str`): one of `TRANSFORM_NAMES`, see the module docstring.
        train (`bool`): the training (augmenting) or the evaluation version of the recipe.
        image_size (`int`): output height and width; CIFAR recipes resize first only if the image differs.
        mean (`Sequence[float]`, *optional*), std (`Sequence[float]`, *optional*): one value per channel; default to
            LDAM-DRW's CIFAR statistics (ImageNet's for `"imagenet"`), averaged to one value when `in_chans=1`.
            `NORMALIZATION_STATS` has the statistics of the built-in datasets.
        in_chans (`int`, *optional*, defaults to 3): channels the model expects (1 or 3); images are converted.
        cutout (`int`, *optional*): side of the Cutout square in pixels (16 for CIFAR-10, 8 for CIFAR-100 in the
            Cutout paper); training only.
        padding (`int`, *optional*, defaults to 4): zero padding of the CIFAR random crop.
        randaugment_ops (`int`, *optional*, defaults to 2), randaugment_magnitude (`int`, *optional*, defaults to 9):
            RandAugment's number of operations per image and magnitude (0-30), for `"cifar_randaugment"`.
        interpolation (`str`, *optional*, defaults to `"bilinear"`): resize interpolation.
        kwargs: extra arguments of `timm.data.create_transform`, only for `"imagenet"`.

    Returns:
        A picklable callable `PIL.Image -> torch.Tensor` of shape `(in_chans, image_size, image_size)`, dtype float32.
    """
    from torchvision import transforms as T

    if name not in TRANSFORM_NAMES:
        raise ValueError(f"Unknown transform {name!r}; expected one of {TRANSFORM_NAMES}.")
    if in_chans not in _MODES:
        raise ValueError(
            f"in_chans={in_chans} is not supported; images can be converted to 1 (L) or 3 (RGB) channels."
        )
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size={image_size!r} must be a positive integer.")
    if kwargs and name != "imagenet":
        raise ValueError(
            f"Options {sorted(kwargs)} are timm create_transform options; they only apply to name='imagenet', "
            f"not {name!r}."
        )
    if cutout is not None:
        if not train:
            raise ValueError("cutout is a training augmentation; pass cutout=None for the evaluation transform.")
        if isinstance(cutout, bool) or not isinstance(cutout, int) or not 1 <= cutout < image_size:
            raise ValueError(f"cutout={cutout!r} must be an integer square side in [1, image_size={image_size}).")
    mean, std = _mean_std(name, mean, std, in_chans)
    interp = T.InterpolationMode(interpolation)
    steps: list[Any] = [ConvertMode(_MODES[in_chans])]

    if name == "none":
        steps.append(T.ToTensor())
        return T.Compose(steps)
    if name == "imagenet":
        import timm.data

        steps.append(
            timm.data.create_transform(
                input_size=image_size,
                is_training=train,
                mean=mean,
                std=std,
                interpolation=interpolation,
                **kwargs,
            )
        )
    else:
        steps.append(ResizeIfNeeded(image_size, interp))
        if train and name != "basic":
            steps += [T.RandomCrop(image_size, padding=padding), T.RandomHorizontalFlip()]
            if name == "cifar_autoaugment":
                steps.append(T.AutoAugment(T.AutoAugmentPolicy.CIFAR10))
            elif name == "cifar_randaugment":
                steps.append(T.RandAugment(num_ops=randaugment_ops, magnitude=randaugment_magnitude))
        steps += [T.ToTensor(), T.Normalize(mean, std)]
    if cutout is not None:
        area = cutout * cutout / float(image_size * image_size)
        steps.append(T.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=0))
    return T.Compose(steps)


class _ImageBatchTransform:
    """The `with_transform` function: a batch dict of lists -> `{"pixel_values": [...], "labels": [...]}`."""

    def __init__(self, transform: Callable[[Any], Any], image_column: str, label_column: str) -> None:
        self.transform = transform
        self.image_column = image_column
        self.label_column = label_column

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out = {"pixel_values": [self.transform(image) for image in batch[self.image_column]]}
        if self.label_column in batch:
            out["labels"] = [int(label) for label in batch[self.label_column]]
        return out


def _check_columns(dataset: Any, split: str, image_column: str, label_column: str) -> None:
    columns = list(dataset.column_names)
    for what, col in (("image_column", image_column), ("label_column", label_column)):
        if col not in columns:
            raise ValueError(
                f"{what}={col!r} is not a column of split {split!r} (columns: {columns}); pass {what}=..."
            )


def with_image_transforms(
    dataset_dict: Any,
    train_transform: Callable[[Any], Any] | None,
    eval_transform: Callable[[Any], Any] | None,
    *,
    image_column: str = "image",
    label_column: str = "label",
    train_split: str = "train",
) -> Any:
    """Attach transforms lazily (`with_transform`): examples come out as `pixel_values` and `labels`.

    The `train_split` split gets `train_transform`, every other split `eval_transform`. Only `pixel_values` (a float
    tensor `(C, H, W)` per example) and `labels` (an `int`) are returned, so use `remove_unused_columns=False` with
    the `Trainer` (it would otherwise drop `image` before the transform runs).

    Args:
        dataset_dict (`datasets.DatasetDict`, `dict[str, datasets.Dataset]` or `datasets.Dataset`): a single
            `Dataset` gets `train_transform` when it is given, else `eval_transform`.
        train_transform, eval_transform (`Callable`, *optional*): from [`create_transform`]; `None` means
            `create_transform("none", ...)`-like conversion to a [0, 1] tensor keeping the image's channels.
        image_column (`str`, *optional*, defaults to `"image"`): the column holding the images.
        label_column (`str`, *optional*, defaults to `"label"`): the column holding the class ids.

    Returns:
        A `DatasetDict` (a `Dataset` for a `Dataset`) with transforms attached (the data is shared, not copied).
    """
    from datasets import Dataset, DatasetDict
    from torchvision import transforms as T

    to_tensor = T.ToTensor()
    if isinstance(dataset_dict, Dataset):
        transform = train_transform if train_transform is not None else eval_transform
        _check_columns(dataset_dict, "dataset", image_column, label_column)
        return dataset_dict.with_transform(_ImageBatchTransform(transform or to_tensor, image_column, label_column))
    if not isinstance(dataset_dict, Mapping) or not all(isinstance(d, Dataset) for d in dataset_dict.values()):
        raise TypeError(
            f"Expected a datasets.DatasetDict, a dict of Datasets or a Dataset, got {type(dataset_dict).__name__}."
        )
    out = {}
    for split, dataset in dataset_dict.items():
        _check_columns(dataset, split, image_column, label_column)
        transform = train_transform if split == train_split else eval_transform
        out[split] = dataset.with_transform(_ImageBatchTransform(transform or to_tensor, image_column, label_column))
    return DatasetDict(out)
