"""How long does `make_long_tailed` take on a CIFAR-sized dataset, and does it decode images?

Builds a synthetic 50,000-image `Image()` dataset laid out like CIFAR-10 (32x32 RGB PNGs, 5,000 per class in shuffled
order) and CIFAR-100 (500 per class), selects the rho=100 LDAM-DRW subset, counts calls to
`datasets.Image.decode_example` while doing so, and compares with the time needed to decode every image once.

    python benchmarks/build_lt_dataset.py [--repeats 5]

Prints the numbers and writes `benchmarks/results/build_lt_dataset.json`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from datasets import ClassLabel, Dataset, Features, Image
from PIL import Image as PILImage

from ltnc_hf.data import class_counts, make_long_tailed

RESULTS = Path(__file__).resolve().parent / "results" / "build_lt_dataset.json"


def synthetic_cifar(num_classes: int, per_class: int, seed: int = 0, distinct_images: int = 512) -> Dataset:
    """`num_classes * per_class` rows of 32x32 PNGs; `distinct_images` random images are encoded once and reused."""
    rng = np.random.RandomState(seed)
    pngs = []
    for _ in range(distinct_images):
        buf = io.BytesIO()
        PILImage.fromarray(rng.randint(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    labels = rng.permutation(np.repeat(np.arange(num_classes), per_class))
    images = [{"bytes": pngs[i % distinct_images], "path": None} for i in range(len(labels))]
    features = Features({"image": Image(), "label": ClassLabel(num_classes=num_classes)})
    return Dataset.from_dict({"image": images, "label": labels}, features=features)


class DecodeCounter:
    """Counts `datasets.Image.decode_example` calls while installed."""

    def __init__(self) -> None:
        self.calls = 0
        self._original = Image.decode_example

    def __enter__(self) -> DecodeCounter:
        original = self._original

        def counting(image_feature, value, token_per_repo_id=None):
            self.calls += 1
            return original(image_feature, value, token_per_repo_id=token_per_repo_id)

        Image.decode_example = counting
        return self

    def __exit__(self, *exc) -> None:
        Image.decode_example = self._original


def time_selection(ds: Dataset, repeats: int) -> tuple[list[float], int, Dataset]:
    times = []
    with DecodeCounter() as counter:
        for _ in range(repeats):
            start = time.perf_counter()
            subset = make_long_tailed(ds, 100)
            times.append(time.perf_counter() - start)
    return times, counter.calls, subset


def time_decode_all(ds: Dataset) -> tuple[float, int]:
    with DecodeCounter() as counter:
        start = time.perf_counter()
        for batch in ds.iter(batch_size=1000):
            assert len(batch["image"]) > 0
        elapsed = time.perf_counter() - start
    return elapsed, counter.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of make_long_tailed")
    args = parser.parse_args()
    torch.set_num_threads(1)

    results = {
        "environment": {
            "python": platform.python_version(),
            "datasets": datasets.__version__,
            "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
        "runs": {},
    }
    for name, num_classes, per_class, expected in (
        ("cifar10_like", 10, 5000, 12406),
        ("cifar100_like", 100, 500, 10847),
    ):
        start = time.perf_counter()
        ds = synthetic_cifar(num_classes, per_class)
        build_s = time.perf_counter() - start
        times, decode_calls, subset = time_selection(ds, args.repeats)
        assert len(subset) == expected, (name, len(subset))
        assert sum(class_counts(subset)) == expected
        decode_all_s, decode_all_calls = time_decode_all(ds)
        run = {
            "num_images": len(ds),
            "imbalance_factor": 100,
            "subset_size": len(subset),
            "make_long_tailed_seconds_median": statistics.median(times),
            "make_long_tailed_seconds_all": times,
            "decode_calls_during_make_long_tailed": decode_calls,
            "decode_all_images_seconds": decode_all_s,
            "decode_calls_when_decoding_all": decode_all_calls,
            "speedup_vs_decoding_all": decode_all_s / statistics.median(times),
            "build_synthetic_dataset_seconds": build_s,
        }
        results["runs"][name] = run
        print(
            f"{name}: {len(ds):,} images -> {len(subset):,} (rho=100); make_long_tailed median "
            f"{run['make_long_tailed_seconds_median'] * 1000:.1f} ms over {args.repeats} runs, "
            f"{decode_calls} image decodes; decoding all images once: {decode_all_s:.2f} s "
            f"({decode_all_calls:,} decodes), {run['speedup_vs_decoding_all']:.0f}x slower"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
