"""Throughput of an `LtncTrainer` training step against a plain eager PyTorch loop on the same model and data.

Both sides train the same `LtncForImageClassification` (a CIFAR ResNet on Fashion-MNIST-LT, rho = 100, the lazy
`datasets` transforms, batch 128, SGD, cross-entropy) for the same number of steps, alternating between the two in
rounds so that machine load hits both alike; the first `--warmup` steps of each round are not timed. With
`--compile`, both sides use `torch.compile` (the Trainer through `torch_compile=True`) and `channels_last`.

    python benchmarks/throughput.py                 # eager, ResNet-20
    python benchmarks/throughput.py --compile       # compiled (the warm-up takes minutes on CPU)

Writes `benchmarks/results/throughput.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def _data():
    from ltnc_hf.data import create_transform, load_fashion_mnist_lt, with_image_transforms

    raw = load_fashion_mnist_lt(100)
    tf = create_transform("basic", train=True, image_size=28, in_chans=1)
    return with_image_transforms(raw, tf, tf)["train"]


def _model(arch: str, seed: int = 0):
    from transformers import set_seed

    from ltnc_hf import LtncConfig, LtncForImageClassification

    set_seed(seed)
    return LtncForImageClassification(
        LtncConfig(backbone=arch, backbone_kwargs={"in_chans": 1}, num_labels=10, head="linear", image_size=28)
    )


def eager_steps(dataset, arch: str, steps: int, warmup: int, compile_model: bool) -> list[float]:
    """The official code's way: a DataLoader, forward, cross-entropy, backward, SGD step."""
    from torch.utils.data import DataLoader
    from transformers import default_data_collator

    model = _model(arch)
    if compile_model:
        model = model.to(memory_format=torch.channels_last)
        model = torch.compile(model)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(dataset, batch_size=128, shuffle=True, collate_fn=default_data_collator, generator=generator)
    times, it = [], iter(loader)
    for step in range(steps + warmup):
        start = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        pixel_values = batch["pixel_values"]
        if compile_model:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        logits = model(pixel_values=pixel_values).logits
        loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def trainer_steps(dataset, arch: str, steps: int, warmup: int, compile_model: bool) -> list[float]:
    from transformers import TrainerCallback

    from ltnc_hf import LtncTrainer, LtncTrainingArguments

    times: list[float] = []

    class Timer(TrainerCallback):
        """Time between consecutive step ends: includes fetching the batch, as the eager loop's timing does."""

        last = None

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            if state.global_step > warmup and self.last is not None:
                times.append(now - self.last)
            self.last = now

    model = _model(arch)
    if compile_model:
        model = model.to(memory_format=torch.channels_last)
    with tempfile.TemporaryDirectory() as out:
        args = LtncTrainingArguments(
            output_dir=out,
            per_device_train_batch_size=128,
            learning_rate=0.1,
            weight_decay=2e-4,
            optim="sgd",
            optim_args="momentum=0.9",
            max_steps=steps + warmup,
            logging_steps=10_000,
            save_strategy="no",
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            disable_tqdm=True,
            dataloader_num_workers=0,
            torch_compile=compile_model,
            nc_metrics=False,
        )
        LtncTrainer(model=model, args=args, train_dataset=dataset, callbacks=[Timer()]).train()
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="cifar_resnet20")
    parser.add_argument("--steps", type=int, default=30, help="Timed steps per side and round.")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    dataset = _data()
    eager, trainer = [], []
    for _ in range(args.rounds):
        eager += eager_steps(dataset, args.arch, args.steps, args.warmup, args.compile)
        trainer += trainer_steps(dataset, args.arch, args.steps, args.warmup, args.compile)
    e, t = float(np.median(eager)), float(np.median(trainer))
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
        },
        "arch": args.arch,
        "batch": 128,
        "compile": args.compile,
        "timed_steps_per_side": len(eager),
        "eager_loop_step_seconds_median": e,
        "trainer_step_seconds_median": t,
        "trainer_speed_relative_to_eager_loop": e / t,
    }
    out = HERE / "results" / ("throughput_compiled.json" if args.compile else "throughput.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
