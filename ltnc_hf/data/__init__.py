"""Long-tailed image-classification data on Hugging Face `datasets`: subsets, builders, transforms and samplers."""

from .build import build_dataset, format_count_table, hub_config_name
from .builders import DATASET_BUILDERS, FIXED_SPLIT_DATASETS, canonical_dataset_name, load_lt_dataset
from .cifar import CIFAR_NAMES, load_cifar10_lt, load_cifar100_lt, load_cifar_lt, read_cifar_pickles
from .digits import load_digits_arrays, load_digits_lt
from .fashion_mnist import (
    DEFAULT_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    load_fashion_mnist_lt,
    read_fashion_mnist,
    read_idx,
)
from .list_file import LT_SPLITS, load_imagenet_lt, load_list_file_dataset, load_places_lt, read_list_file
from .long_tail import (
    PROFILES,
    SELECTIONS,
    check_imbalance_factor,
    class_counts,
    get_labels,
    long_tail_counts,
    long_tail_indices,
    long_tail_info,
    make_long_tailed,
    shot_groups,
)
from .samplers import CLASS_AWARE_MODES, SAMPLER_TYPES, ClassAwareSampler, create_sampler
from .transforms import (
    CIFAR_MEAN,
    CIFAR_STD,
    NORMALIZATION_STATS,
    TRANSFORM_NAMES,
    ConvertMode,
    create_transform,
    with_image_transforms,
)

__all__ = [
    # long-tailed subsets
    "PROFILES",
    "SELECTIONS",
    "long_tail_counts",
    "long_tail_indices",
    "make_long_tailed",
    "class_counts",
    "shot_groups",
    "get_labels",
    "long_tail_info",
    "check_imbalance_factor",
    # builders
    "DATASET_BUILDERS",
    "FIXED_SPLIT_DATASETS",
    "canonical_dataset_name",
    "load_lt_dataset",
    "CIFAR_NAMES",
    "load_cifar_lt",
    "load_cifar10_lt",
    "load_cifar100_lt",
    "read_cifar_pickles",
    "DEFAULT_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "load_fashion_mnist_lt",
    "read_fashion_mnist",
    "read_idx",
    "load_digits_lt",
    "load_digits_arrays",
    "LT_SPLITS",
    "read_list_file",
    "load_list_file_dataset",
    "load_imagenet_lt",
    "load_places_lt",
    # saving / publishing
    "build_dataset",
    "format_count_table",
    "hub_config_name",
    # transforms
    "TRANSFORM_NAMES",
    "NORMALIZATION_STATS",
    "CIFAR_MEAN",
    "CIFAR_STD",
    "ConvertMode",
    "create_transform",
    "with_image_transforms",
    # samplers
    "SAMPLER_TYPES",
    "CLASS_AWARE_MODES",
    "ClassAwareSampler",
    "create_sampler",
]
