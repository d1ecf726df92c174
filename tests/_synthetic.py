"""Small synthetic long-tailed data for tests (no downloads)."""

from __future__ import annotations

import numpy as np
from datasets import Array3D, ClassLabel, Dataset, Features


def synthetic_pixel_dataset(
    counts: list[int], *, size: int = 8, channels: int = 1, seed: int = 0, separable: bool = True
) -> Dataset:
    """A `datasets.Dataset` with `pixel_values` (C, H, W float32) and `label` columns, torch-formatted.

    Each class has its own mean image, so a model can learn it in a few steps.
    """
    rng = np.random.default_rng(seed)
    num_classes = len(counts)
    protos = rng.normal(0.0, 1.0, size=(num_classes, channels, size, size)).astype(np.float32)
    pixels, labels = [], []
    for c, n in enumerate(counts):
        noise = rng.normal(0.0, 0.5 if separable else 2.0, size=(n, channels, size, size)).astype(np.float32)
        pixels.append(protos[c][None] + noise)
        labels.extend([c] * n)
    pixels = np.concatenate(pixels)
    order = rng.permutation(len(labels))
    features = Features(
        {
            "pixel_values": Array3D(shape=(channels, size, size), dtype="float32"),
            "label": ClassLabel(num_classes=num_classes),
        }
    )
    ds = Dataset.from_dict({"pixel_values": pixels[order], "label": np.asarray(labels)[order]}, features=features)
    return ds.with_format("torch")
