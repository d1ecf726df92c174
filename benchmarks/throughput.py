"""Throughput of an `LtncTrainer` training step against a plain eager PyTorch loop on the same model and data.

The reference is the official code's way: an eager loop (DataLoader, forward, cross-entropy, backward, SGD) on the
same `LtncForImageClassification` (a CIFAR ResNet on Fashion-MNIST-LT, rho = 100, batch 128). The Trainer side runs
`LtncTrainer` with the chosen method (`--method ce`, or `disa_spa_reg`: CE + DisA + SpA-Reg, to time the added terms
under compilation too). The two sides alternate in rounds so that machine load hits both alike; the first `--warmup`
steps of each round are not timed; step times include fetching the batch.

- `--data lazy`: the `datasets` transforms run per image in every step (random crop + flip in PIL), as in training;
  `--data memory`: one augmented copy of the training set is materialised first, so a step is the model's work
  (what a GPU input pipeline with enough workers gives).
- `--compile`: the Trainer side with `torch_compile=True` (the eager loop stays eager: it is the reference),
  `--compile-mode` its `torch_compile_mode`; `--channels-last`: the Trainer side's model and inputs in channels_last.

    python benchmarks/throughput.py                                   # eager Trainer vs eager loop
    python benchmarks/throughput.py --compile --data memory           # compiled Trainer (warm-up takes minutes)
    python benchmarks/throughput.py --compile --method disa_spa_reg   # ... with DisA + SpA-Reg compiled too

Writes `benchmarks/results/throughput_<options>.json`.
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


def _data(mode: str):
    from ltnc_hf.data import create_transform, load_fashion_mnist_lt, with_image_transforms

    raw = load_fashion_mnist_lt(100)
    tf = create_transform("basic", train=True, image_size=28, in_chans=1)
    lazy = with_image_transforms(raw, tf, tf)["train"]
    if mode == "lazy":
        return lazy
    torch.manual_seed(0)
    rows = [lazy[i] for i in range(len(lazy))]  # one pass of the augmentations, kept in memory
    pixels = torch.stack([r["pixel_values"] for r in rows])
    labels = [int(r["labels"] if "labels" in r else r["label"]) for r in rows]

    class _Memory(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return {"pixel_values": pixels[i], "labels": labels[i]}

    return _Memory()


def _model(arch: str, seed: int = 0, disa_target_etf: bool = False):
    from transformers import set_seed

    from ltnc_hf import LtncConfig, LtncForImageClassification

    set_seed(seed)
    config = LtncConfig(
        backbone=arch,
        backbone_kwargs={"in_chans": 1},
        num_labels=10,
        head="linear",
        image_size=28,
        disa_target_etf=disa_target_etf,
    )
    return LtncForImageClassification(config)


def eager_steps(dataset, arch: str, steps: int, warmup: int) -> list[float]:
    """The official code's way: a DataLoader, forward, cross-entropy, backward, SGD step, all eager."""
    from torch.utils.data import DataLoader
    from transformers import default_data_collator

    model = _model(arch)
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
        logits = model(pixel_values=batch["pixel_values"]).logits
        loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


METHODS = {
    "ce": {},
    # DisA at the sweep's acting setting, with a compile-friendly iteration count, and SpA-Reg through the features
    "disa_spa_reg": {
        "disa": True,
        "disa_weight": 1.0,
        "disa_max_iter": 20,
        "spa": "reg",
        "spa_reg_feature_grad": True,
    },
}


class _ChannelsLast:
    """Collator wrapper: the batch's images in channels_last memory format."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, features):
        batch = self.collate(features)
        batch["pixel_values"] = batch["pixel_values"].contiguous(memory_format=torch.channels_last)
        return batch


def trainer_steps(
    dataset,
    arch: str,
    steps: int,
    warmup: int,
    compile_model: bool,
    channels_last: bool,
    method: str,
    first_steps: list[float],
    compile_mode: str | None = None,
) -> list[float]:
    from transformers import TrainerCallback

    from ltnc_hf import LtncTrainer, LtncTrainingArguments

    times: list[float] = []

    class Timer(TrainerCallback):
        """Time between consecutive step ends: includes fetching the batch, as the eager loop's timing does."""

        last = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            if state.global_step == 1:
                first_steps.append(now - self.begin)  # includes the compile warm-up
            if state.global_step > warmup and self.last is not None:
                times.append(now - self.last)
            self.last = now

    from transformers import default_data_collator

    method_kwargs = METHODS[method]
    model = _model(arch, disa_target_etf=bool(method_kwargs.get("disa")))
    collator = default_data_collator
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        collator = _ChannelsLast(default_data_collator)
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
            torch_compile_mode=compile_mode,
            nc_metrics=False,
            **method_kwargs,
        )
        trainer = LtncTrainer(
            model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[Timer()]
        )
        trainer.train()
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="cifar_resnet20")
    parser.add_argument("--steps", type=int, default=30, help="Timed steps per side and round.")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="Trainer side with torch_compile=True.")
    parser.add_argument("--channels-last", action="store_true", help="Trainer side in channels_last.")
    parser.add_argument("--compile-mode", default=None, help="torch_compile_mode, e.g. max-autotune-no-cudagraphs.")
    parser.add_argument("--data", choices=("lazy", "memory"), default="lazy")
    parser.add_argument("--method", choices=sorted(METHODS), default="ce")
    args = parser.parse_args(argv)
    dataset = _data(args.data)
    eager, trainer, first_steps = [], [], []
    for _ in range(args.rounds):
        eager += eager_steps(dataset, args.arch, args.steps, args.warmup)
        trainer += trainer_steps(
            dataset,
            args.arch,
            args.steps,
            args.warmup,
            args.compile,
            args.channels_last,
            args.method,
            first_steps,
            args.compile_mode,
        )
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
        "trainer_compile": args.compile,
        "trainer_channels_last": args.channels_last,
        "trainer_compile_mode": args.compile_mode,
        "data": args.data,
        "trainer_method": args.method,
        "trainer_method_options": METHODS[args.method],
        "timed_steps_per_side": len(eager),
        "eager_loop_step_seconds_median": e,
        "trainer_step_seconds_median": t,
        "trainer_speed_relative_to_eager_loop": e / t,
        "trainer_first_step_seconds_per_round": first_steps,
    }
    tags = [args.data, args.method] + (["compile"] if args.compile else []) + (["cl"] if args.channels_last else [])
    tags += [args.compile_mode] if args.compile_mode else []
    out = HERE / "results" / f"throughput_{'_'.join(tags)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
