"""Training-step overhead of DisA and SpA-Reg, and `ltnc_hf.ot.sinkhorn` against POT.

One process, interleaved repetitions: every round runs each variant for a few steps, in a rotated order, so that
drifts of a shared machine hit all variants alike. The overhead of a variant is the median over rounds of its step
time divided by the plain cross-entropy step of the same round, minus one (also given from the fastest step of each
variant, less sensitive to load); an A/A control (`ce_again`, the same CE step timed as a separate variant) shows the
noise floor of these ratios. The extra work is also timed on its own
(DisA / SpA-Reg forward + backward on the step's features, many repetitions; fastest repetition) and divided by the
fastest CE step, which is a steadier estimate of the same overhead when the machine is noisy.

Variants: `ce` (linear head + cross-entropy), `ce+disa` (+ 0.1 * DisA(features, ETF), epsilon = 1), and
`ce+disa+spa_reg` (+ class-mean tracker update + 0.1 * SpA-Reg on the head weight). Models: timm
`cifar_resnet32` (registered by `import ltnc_hf`) at batch 128, 32x32, K = 10 (width 16, d = 64) and K = 100
(width 32, d = 128 >= K, as in DisA's CIFAR-100 setting), and timm `resnet50` (d = 2048) at K = 1000.

Usage:
    python benchmarks/overhead.py            # full run
    python benchmarks/overhead.py --quick    # fewer rounds, smaller ResNet-50 input (a few minutes on 2 CPU cores)

Writes `benchmarks/results/overhead.json` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

import ltnc_hf  # noqa: F401 - registers cifar_resnet* with timm
from ltnc_hf.losses import ClassMeanTracker, DisALoss, spa_reg_loss
from ltnc_hf.ot import sinkhorn

VARIANTS = ("ce", "ce_again", "ce+disa", "ce+disa+spa_reg")
LAMBDA = 0.1


def _simplex_etf(num_classes: int, dim: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, num_classes, generator=generator))
    centring = torch.eye(num_classes) - 1.0 / num_classes
    return (num_classes / (num_classes - 1)) ** 0.5 * basis @ centring


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Setup:
    """A backbone + linear head, a fixed long-tailed batch, and the loss pieces of every variant."""

    def __init__(self, arch: str, arch_kwargs: dict, num_classes: int, batch: int, image_size: int, device) -> None:
        generator = torch.Generator().manual_seed(0)
        self.device = device
        self.backbone = timm.create_model(arch, num_classes=0, **arch_kwargs).to(device)
        self.dim = self.backbone.num_features
        self.head = nn.Linear(self.dim, num_classes).to(device)
        params = list(self.backbone.parameters()) + list(self.head.parameters())
        self.optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=2e-4)
        self.images = torch.randn(batch, 3, image_size, image_size, generator=generator).to(device)
        # long-tailed labels: class k drawn with probability proportional to 100^(-k/(K-1))
        prior = torch.tensor([100.0 ** (-k / max(num_classes - 1, 1)) for k in range(num_classes)])
        self.labels = torch.multinomial(prior, batch, replacement=True, generator=generator).to(device)
        self.etf = _simplex_etf(num_classes, self.dim).to(device)
        self.disa = DisALoss(1.0)
        self.tracker = ClassMeanTracker(num_classes, self.dim).to(device)

    def extra_loss(self, variant: str, features: torch.Tensor) -> torch.Tensor | None:
        if variant in ("ce", "ce_again"):
            return None
        loss = LAMBDA * self.disa(features, self.etf)
        if variant == "ce+disa+spa_reg":
            self.tracker.update(features, self.labels)
            loss = loss + LAMBDA * spa_reg_loss(
                self.head.weight, self.tracker.centered_means(), mask=self.tracker.seen
            )
        return loss

    def step(self, variant: str) -> None:
        features = self.backbone(self.images)
        loss = F.cross_entropy(self.head(features), self.labels)
        extra = self.extra_loss(variant, features)
        if extra is not None:
            loss = loss + extra
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def time_steps(self, variant: str, steps: int) -> float:
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step(variant)
        _sync(self.device)
        return (time.perf_counter() - start) / steps

    def time_extra_alone(self, variant: str, reps: int) -> float:
        """Forward + backward of the extra loss alone, on detached features of the right shape."""
        with torch.no_grad():
            base = self.backbone(self.images[: min(len(self.images), 8)])
        base = base.repeat((len(self.images) + len(base) - 1) // len(base), 1)[: len(self.images)]
        times = []
        for _ in range(reps):
            features = base.clone().requires_grad_(True)
            _sync(self.device)
            start = time.perf_counter()
            loss = self.extra_loss(variant, features)
            loss.backward()
            _sync(self.device)
            times.append(time.perf_counter() - start)
        self.head.weight.grad = None
        return min(times), statistics.median(times)


def bench_config(name: str, arch: str, arch_kwargs: dict, num_classes: int, batch: int, image_size: int, args, device):
    setup = _Setup(arch, arch_kwargs, num_classes, batch, image_size, device)
    for variant in VARIANTS[::-1]:  # warm-up (allocator, first Sinkhorn call)
        setup.step(variant)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round_idx in range(args.rounds):
        order = VARIANTS[round_idx % len(VARIANTS) :] + VARIANTS[: round_idx % len(VARIANTS)]
        for variant in order:
            times[variant].append(setup.time_steps(variant, args.steps))
    ce = times["ce"]
    result: dict[str, Any] = {
        "arch": arch,
        "arch_kwargs": arch_kwargs,
        "num_classes": num_classes,
        "feature_dim": setup.dim,
        "batch": batch,
        "image_size": image_size,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "step_seconds_median": {v: statistics.median(t) for v, t in times.items()},
        "step_seconds_all": times,
        "overhead_pct_paired_median": {},
        "overhead_pct_of_min": {},
        "extra_seconds_alone": {},
        "extra_seconds_alone_median": {},
        "extra_seconds_alone_1thread": {},
        "overhead_pct_from_extra_alone_1thread": {},
        "overhead_pct_from_extra_alone": {},
    }
    for variant in VARIANTS[1:]:
        ratios = [t / c for t, c in zip(times[variant], ce)]
        result["overhead_pct_paired_median"][variant] = 100.0 * (statistics.median(ratios) - 1.0)
        result["overhead_pct_of_min"][variant] = 100.0 * (min(times[variant]) / min(ce) - 1.0)
    for variant in VARIANTS[2:]:
        extra_min, extra_median = setup.time_extra_alone(variant, args.extra_reps)
        result["extra_seconds_alone"][variant] = extra_min
        result["extra_seconds_alone_median"][variant] = extra_median
        # fastest extra over fastest CE step: both with the least interference from other processes
        result["overhead_pct_from_extra_alone"][variant] = 100.0 * extra_min / min(ce)
        # the same on one thread: on an oversubscribed CPU, multi-threaded small ops stall in OpenMP barriers
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        result["extra_seconds_alone_1thread"][variant] = setup.time_extra_alone(variant, args.extra_reps)[0]
        torch.set_num_threads(threads)
        result["overhead_pct_from_extra_alone_1thread"][variant] = (
            100.0 * result["extra_seconds_alone_1thread"][variant] / min(ce)
        )
    result["disa_sinkhorn_last_info"] = setup.disa.last_info._asdict() if setup.disa.last_info else None
    print(f"  {name}: done", file=sys.stderr, flush=True)
    return result


def bench_sinkhorn(args) -> list[dict[str, Any]]:
    import ot

    generator = torch.Generator().manual_seed(0)
    batch, num_classes, dim = 128, 100, 128
    features = F.normalize(torch.randn(batch, dim, generator=generator), dim=1)
    cost = 1.0 - features @ F.normalize(_simplex_etf(num_classes, dim), dim=0)
    cost64 = cost.double().numpy()
    a, b = np.full(batch, 1.0 / batch), np.full(num_classes, 1.0 / num_classes)
    rows = []
    tol = 1e-6
    # POT's NumPy backend computes on one thread; compare all three on one thread (tiny matrices: more threads only
    # add synchronisation, and on a loaded machine they stall)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for epsilon in (1.0, 0.1):
        solvers = {
            "ltnc_hf": lambda eps=epsilon: sinkhorn(cost, eps, tol=tol, max_iter=1000, return_info=True),
            "pot_numpy": lambda eps=epsilon: ot.sinkhorn(
                a, b, cost64, eps, method="sinkhorn_log", stopThr=tol, numItermax=1000
            ),
            "pot_torch": lambda eps=epsilon: ot.sinkhorn(
                torch.from_numpy(a),
                torch.from_numpy(b),
                cost.double(),
                eps,
                method="sinkhorn_log",
                stopThr=tol,
                numItermax=1000,
            ),
        }
        samples: dict[str, list[float]] = {label: [] for label in solvers}
        for fn in solvers.values():
            fn()  # warm-up
        for _ in range(args.sinkhorn_reps):  # interleaved
            for label, fn in solvers.items():
                start = time.perf_counter()
                fn()
                samples[label].append(time.perf_counter() - start)
        timings = {label: statistics.median(t) for label, t in samples.items()}
        timings_min = {label: min(t) for label, t in samples.items()}
        ours, pot_numpy = solvers["ltnc_hf"], solvers["pot_numpy"]
        plan, info = ours()
        pot_plan = pot_numpy()
        rows.append(
            {
                "batch": batch,
                "num_classes": num_classes,
                "epsilon": epsilon,
                "tol": tol,
                "seconds_median": timings,
                "seconds_min": timings_min,
                "ltnc_hf_iterations": info.n_iter,
                "ltnc_hf_row_l1_error": info.error,
                "pot_row_l1_error": float(np.abs(pot_plan.sum(1) - a).sum()),
                "pot_col_l2_error": float(np.linalg.norm(pot_plan.sum(0) - b)),
                "max_abs_plan_difference": float(np.abs(plan.double().numpy() - pot_plan).max()),
                "torch_threads": 1,
            }
        )
    torch.set_num_threads(threads)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller ResNet-50 input")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default here)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per model")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant and round")
    parser.add_argument("--skip-resnet50", action="store_true")
    parser.add_argument(
        "--output", default=str(Path(__file__).resolve().parent / "results" / "overhead.json"), help="JSON path"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.steps = args.steps or (1 if args.quick else 2)
    args.extra_reps = 20 if args.quick else 50
    args.sinkhorn_reps = 20 if args.quick else 50
    r50_batch, r50_size = (64, 224) if on_gpu else ((8, 112) if args.quick else (16, 160))

    configs = [
        ("resnet32_k10", "cifar_resnet32", {}, 10, 128, 32),
        ("resnet32_k100", "cifar_resnet32", {"width": 32}, 100, 128, 32),
    ]
    if not args.skip_resnet50:
        configs.append(("resnet50_k1000", "resnet50", {}, 1000, r50_batch, r50_size))

    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": str(device) if not on_gpu else torch.cuda.get_device_name(device),
            "torch": torch.__version__,
            "timm": timm.__version__,
            "load_average_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "quick": args.quick,
        "lambda": LAMBDA,
        "models": {},
    }
    for name, arch, kwargs, num_classes, batch, size in configs:
        report["models"][name] = bench_config(name, arch, kwargs, num_classes, batch, size, args, device)
    report["sinkhorn_vs_pot"] = bench_sinkhorn(args)
    report["machine"]["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report["wall_seconds"] = time.perf_counter() - started

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    _print_table(report)
    print(f"\nwritten {output}")
    return report


def _print_table(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(
        f"device {machine['device']}, {machine['torch_threads']} torch threads, load {machine['load_average_before']}"
    )
    print(
        f"{'model':<16}{'B':>5}{'size':>6}{'CE min s':>11}{'variant':>18}{'paired %':>10}{'min %':>8}"
        f"{'extra alone ms':>16}{'extra/CE %':>12}{'1-thread ms':>13}{'1-thr/CE %':>12}"
    )
    for name, res in report["models"].items():
        ce = min(res["step_seconds_all"]["ce"])
        for variant in VARIANTS[1:]:
            alone = res["extra_seconds_alone"].get(variant)
            alone_ms = f"{1e3 * alone:.2f}" if alone is not None else "-"
            alone_pct = f"{res['overhead_pct_from_extra_alone'][variant]:.2f}" if alone is not None else "-"
            one = res["extra_seconds_alone_1thread"].get(variant)
            one_ms = f"{1e3 * one:.2f}" if one is not None else "-"
            one_pct = f"{res['overhead_pct_from_extra_alone_1thread'][variant]:.2f}" if one is not None else "-"
            print(
                f"{name:<16}{res['batch']:>5}{res['image_size']:>6}{ce:>11.3f}{variant:>18}"
                f"{res['overhead_pct_paired_median'][variant]:>10.2f}{res['overhead_pct_of_min'][variant]:>8.2f}"
                f"{alone_ms:>16}{alone_pct:>12}{one_ms:>13}{one_pct:>12}"
            )
    print(
        f"\n{'sinkhorn B x K':<16}{'eps':>6}{'ltnc_hf ms':>16}{'POT np ms':>16}{'POT torch ms':>16}{'iters':>7}"
        f"{'max |dT|':>11}   (median over interleaved calls, one thread; fastest call in parentheses)"
    )
    for row in report["sinkhorn_vs_pot"]:
        med, fast = row["seconds_median"], row["seconds_min"]
        cells = "".join(
            f"{f'{1e3 * med[k]:.2f} ({1e3 * fast[k]:.2f})':>{w}}"
            for k, w in (("ltnc_hf", 16), ("pot_numpy", 16), ("pot_torch", 16))
        )
        print(
            f"{row['batch']}x{row['num_classes']:<12}{row['epsilon']:>6}{cells}{row['ltnc_hf_iterations']:>7}"
            f"{row['max_abs_plan_difference']:>11.1e}"
        )


if __name__ == "__main__":
    main()
