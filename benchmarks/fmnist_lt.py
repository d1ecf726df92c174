"""Fashion-MNIST-LT benchmark of DisA and SpA on CPU: do the methods act, and where?

Runs the Fashion-MNIST-LT recipes (`recipes/fmnist_lt/rho{100,1000}/*.yaml`: ResNet-8 on 1-channel 28x28 input,
10 epochs, the CIFAR-LT schedule shrunk) for

- CE, CE+DisA, CE-DRW, CE-DRW+DisA: as the papers do (mixup alpha = 1) and without mixup;
- ETF-DR, ETF-DR+DisA, CE+SpA-Reg, CE+SpA-SLERP, CE+SpA-Proj: as the recipes say;
- a DisA sensitivity sweep at rho = 100 without mixup: lambda in {0.1, 1, 8} x epsilon in {1, 0.1}, one seed;

at rho = 100 and 1000 and seeds 0, 1, 2. A balanced validation split (100 images per class, drawn with a fixed seed
from the training images the long-tailed subset leaves out) is evaluated every epoch for the neural-collapse traces
and is the only split the sweep's choice may look at; the test split (10,000 balanced images) is reported.

Every finished run is written to `benchmarks/results/fmnist_lt_runs/<run>.json`; runs already there are skipped, so
an interrupted benchmark continues where it stopped (also in a later session, since the files are committed).
`--report` aggregates them into `benchmarks/results/fmnist_lt.json` and `benchmarks/results/fmnist_lt.md`.

    python benchmarks/fmnist_lt.py --quick        # CE, CE+DisA, CE+SpA-Reg, rho 100, seed 0, 4 epochs (< 10 min)
    python benchmarks/fmnist_lt.py                # everything, in priority order (about 5 CPU hours)
    python benchmarks/fmnist_lt.py --report       # tables only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS_DIR = HERE / "results" / "fmnist_lt_runs"
QUICK_RUNS_DIR = HERE / "results" / "fmnist_lt_quick_runs"
RESULT_JSON = HERE / "results" / "fmnist_lt.json"
RESULT_MD = HERE / "results" / "fmnist_lt.md"
PLOTS_DIR = HERE / "results" / "fmnist_lt_plots"
SCRATCH = Path(os.environ.get("LTNC_BENCH_SCRATCH", "/tmp/ltnc_fmnist_lt"))

MIXUP_PAIRS = ("ce", "ce_disa", "ce_drw", "ce_drw_disa")
ONCE = ("etf_dr", "etf_dr_disa", "ce_spa_reg", "ce_spa_slerp", "ce_spa_proj")
SWEEP = [(lam, eps) for lam in (0.1, 1.0, 8.0) for eps in (1.0, 0.1)]
SEEDS = (0, 1, 2)
RHOS = (100, 1000)
VAL_PER_CLASS = 100


def run_plan(quick: bool) -> list[dict]:
    """Runs in priority order: one seed of everything first, so a partial benchmark already answers something."""
    if quick:
        return [
            {"rho": 100, "recipe": m, "seed": 0, "mixup": True, "epochs": 4, "quick": True}
            for m in ("ce", "ce_disa", "ce_spa_reg")
        ]
    plan = []
    for seed in SEEDS:
        for rho in RHOS:
            for method in MIXUP_PAIRS:
                plan.append({"rho": rho, "recipe": method, "seed": seed, "mixup": True})
                plan.append({"rho": rho, "recipe": method, "seed": seed, "mixup": False})
            for method in ONCE:
                plan.append({"rho": rho, "recipe": method, "seed": seed, "mixup": None})
            if seed == 0 and rho == 100:
                # the sweep right after the first block; (0.1, 1) is the recipe's own setting, run above
                for lam, eps in SWEEP:
                    if (lam, eps) != (0.1, 1.0):
                        sweep = {"disa_weight": lam, "disa_epsilon": eps}
                        plan.append({"rho": 100, "recipe": "ce_disa", "seed": 0, "mixup": False, **sweep})
    return plan


def run_name(spec: dict) -> str:
    name = spec["recipe"]
    if spec.get("mixup") is False:
        name += "_nomixup"
    if "disa_weight" in spec:
        name += f"_lam{spec['disa_weight']:g}_eps{spec['disa_epsilon']:g}"
    return f"rho{spec['rho']}__{name}__seed{spec['seed']}"


def _fashion_mnist_splits(rho: int, lt_seed: int):
    """Long-tailed train (the recipe's LDAM subset), a balanced validation split from the unused images, and test."""
    from datasets import DatasetDict

    from ltnc_hf.data import long_tail_indices
    from ltnc_hf.data._arrays import arrays_to_dataset
    from ltnc_hf.data.fashion_mnist import FASHION_MNIST_CLASSES, read_fashion_mnist

    arrays = read_fashion_mnist()
    labels = arrays["train_labels"]
    lt = long_tail_indices(labels, rho, selection="ldam", seed=lt_seed)  # LDAM order, as the recipes train on
    unused = np.setdiff1d(np.arange(len(labels)), lt)
    rng = np.random.default_rng(12345)
    val = np.concatenate(
        [rng.permutation(unused[labels[unused] == c])[:VAL_PER_CLASS] for c in range(len(FASHION_MNIST_CLASSES))]
    )
    names = list(FASHION_MNIST_CLASSES)
    return DatasetDict(
        train=arrays_to_dataset(arrays["train_images"][lt], labels[lt], names),
        validation=arrays_to_dataset(arrays["train_images"][val], labels[val], names),
        test=arrays_to_dataset(arrays["test_images"], arrays["test_labels"], names),
    )


class _EpochTimer:
    def __new__(cls):
        from transformers import TrainerCallback

        class EpochTimer(TrainerCallback):
            def __init__(self):
                self.durations = []
                self._start = None

            def on_epoch_begin(self, args, state, control, **kwargs):
                self._start = time.perf_counter()

            def on_epoch_end(self, args, state, control, **kwargs):
                if self._start is not None:
                    self.durations.append(time.perf_counter() - self._start)

        return EpochTimer()


def run_one(spec: dict, out_file: Path, data_cache: dict) -> dict:
    import torch
    from transformers import set_seed

    from ltnc_hf.data import class_counts, create_transform, with_image_transforms
    from ltnc_hf.metrics import evaluate_model
    from ltnc_hf.train import build_model, parse_args
    from ltnc_hf.trainer import LtncTrainer

    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    recipe = ROOT / "recipes" / "fmnist_lt" / f"rho{spec['rho']}" / f"{spec['recipe']}.yaml"
    name = run_name(spec)
    out_dir = SCRATCH / name
    shutil.rmtree(out_dir, ignore_errors=True)
    argv = ["--config", str(recipe), "--output_dir", str(out_dir), "--seed", str(spec["seed"])]
    argv += ["--save_strategy", "no", "--disable_tqdm", "True", "--logging_steps", "10", "--report_to", "none"]
    if spec.get("mixup") is False:
        argv += ["--mixup_alpha", "0"]
    if "epochs" in spec:
        epochs = spec["epochs"]
        argv += ["--num_train_epochs", str(epochs), "--lr_step_epochs", f"{epochs - 1}"]
        if "drw" in spec["recipe"]:
            argv += ["--drw_start_epoch", str(epochs - 1)]
    if "disa_weight" in spec:
        argv += ["--disa_weight", str(spec["disa_weight"]), "--disa_epsilon", str(spec["disa_epsilon"])]
    data_args, model_args, args = parse_args(argv)
    if args.disa:
        args.disa_log_grad_ratio = True
    key = (spec["rho"], data_args.lt_seed)
    if key not in data_cache:
        data_cache[key] = _fashion_mnist_splits(*key)
    raw = data_cache[key]
    train_tf = create_transform(data_args.train_transform, train=True, image_size=28, in_chans=1)
    eval_tf = create_transform(data_args.train_transform, train=False, image_size=28, in_chans=1)
    data = with_image_transforms(raw, train_tf, eval_tf)
    counts = class_counts(raw["train"])
    names = raw["train"].features["label"].names

    set_seed(args.seed)
    model = build_model(model_args, data_args, len(names), dict(enumerate(names)))
    timer = _EpochTimer()
    trainer = LtncTrainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        class_counts=counts,
        callbacks=[timer],
    )
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    plots = spec["seed"] == 0 and not spec.get("quick")
    plot_dir = PLOTS_DIR / name if plots else out_dir / "evaluation"
    report = evaluate_model(
        model,
        data["test"],
        output_dir=str(plot_dir),
        train_class_counts=counts,
        batch_size=512,
        plots=plots,
        class_names=names,
        transport_epsilon=args.disa_epsilon,
    )
    history = [
        {k: v for k, v in entry.items() if isinstance(v, (int, float))}
        for entry in trainer.state.log_history
        if any(k.startswith("eval_") for k in entry)
    ]
    ratios = [e["disa_grad_ratio"] for e in trainer.state.log_history if "disa_grad_ratio" in e]
    if plots:
        from ltnc_hf.metrics import plot_nc_traces

        plot_nc_traces(history, plot_dir / "nc_traces_validation.png", title=f"{name} (validation split)")
    keep = (
        "accuracy",
        "many_accuracy",
        "medium_accuracy",
        "few_accuracy",
        "balanced_accuracy",
        "nc1",
        "nc2_equinorm",
        "nc2_equiangular",
        "nc3",
        "nc4",
        "spa_cosine",
    )
    result = {
        "spec": spec,
        "run": name,
        "class_counts": counts,
        "test": {k: report.get(k, report.get("neural_collapse", {}).get(k)) for k in keep},
        "validation_final": {k[len("eval_") :]: v for k, v in history[-1].items() if k.startswith("eval_")}
        if history
        else {},
        "validation_history": history,
        "seconds_per_epoch": float(np.mean(timer.durations)) if timer.durations else None,
        "wall_seconds": wall,
        "disa_grad_ratio_mean": float(np.mean(ratios)) if ratios else None,
        "disa_grad_ratio_last": float(ratios[-1]) if ratios else None,
        "torch_threads": torch.get_num_threads(),
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=float))
    tmp.replace(out_file)  # a run counts only once it is complete
    shutil.rmtree(out_dir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------------
def _mean_std(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None, None, 0
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, len(arr)


def _fmt(mean, std, n, scale=100.0, digits=1):
    if mean is None:
        return "—"
    if n > 1:
        return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"
    return f"{scale * mean:.{digits}f}"


def _methods_of(recipe: str, spec: dict) -> list[str]:
    """Model-card method names of a Fashion-MNIST-LT recipe name such as `ce_drw_disa` or `etf_dr`."""
    import yaml

    path = ROOT / "recipes" / "fmnist_lt" / f"rho{spec['rho']}" / f"{recipe}.yaml"
    r = yaml.safe_load(path.read_text())
    methods = [r.get("loss_type", "ce")]
    if r.get("head") == "etf" and methods[0] != "dot_regression":
        methods.append("etf")
    if r.get("drw"):
        methods.append("drw")
    if r.get("disa"):
        methods.append("disa")
    methods += [f"spa_{m}" for m in str(r.get("spa", "none")).split(",") if m not in ("none", "")]
    if r.get("mixup_alpha", 0) and spec.get("mixup") is not False:
        methods.append("mixup")
    return methods


def _render_cards(groups: dict[str, list[dict]], cards_dir: Path) -> None:
    """One model card per benchmarked configuration (mean test results over its seeds)."""
    from ltnc_hf.model_card import create_model_card

    cards_dir.mkdir(parents=True, exist_ok=True)
    for key, runs in groups.items():
        spec = runs[0]["spec"]
        mean = {}
        for metric in ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "balanced_accuracy"):
            values = [r["test"].get(metric) for r in runs if r["test"].get(metric) is not None]
            mean[metric] = float(np.mean(values)) if values else None
        recipe = f"recipes/fmnist_lt/rho{spec['rho']}/{spec['recipe']}.yaml"
        card = create_model_card(
            model_name=f"fmnist-lt-{key.replace('__', '-').replace('_', '-')}",
            dataset_name="Fashion-MNIST-LT",
            imbalance_factor=spec["rho"],
            results=mean,
            method=_methods_of(spec["recipe"], spec),
            recipe=recipe,
            etf_seed=0,
            class_counts=runs[0]["class_counts"],
            backbone="cifar_resnet8",
            training_args={"seeds": sorted(r["spec"]["seed"] for r in runs), "benchmark": "benchmarks/fmnist_lt.py"},
        )
        card.save(str(cards_dir / f"{key.replace('__', '_')}.md"))


# (method, its baseline): the papers' claims are about these differences
PAIRS = [
    ("ce_disa", "ce"),
    ("ce_disa_nomixup", "ce_nomixup"),
    ("ce_drw_disa", "ce_drw"),
    ("ce_drw_disa_nomixup", "ce_drw_nomixup"),
    ("etf_dr_disa", "etf_dr"),
    ("ce_spa_reg", "ce"),
    ("ce_spa_slerp", "ce"),
    ("ce_spa_proj", "ce"),
    ("ce_drw", "ce"),
    ("ce_nomixup", "ce"),
]
PAIR_METRICS = ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "spa_cosine")


def paired_effects(groups: dict[str, list[dict]]) -> dict:
    """Same-seed differences `method - baseline` of the test metrics: mean, std over seeds, and seeds with a gain."""
    effects = {}
    for rho in RHOS:
        for method, base in PAIRS:
            a = {r["spec"]["seed"]: r["test"] for r in groups.get(f"rho{rho}__{method}", [])}
            b = {r["spec"]["seed"]: r["test"] for r in groups.get(f"rho{rho}__{base}", [])}
            seeds = sorted(set(a) & set(b))
            if not seeds:
                continue
            row = {"seeds": seeds}
            for metric in PAIR_METRICS:
                deltas = [
                    a[s][metric] - b[s][metric]
                    for s in seeds
                    if a[s].get(metric) is not None and b[s].get(metric) is not None
                ]
                deltas = [d for d in deltas if not math.isnan(d)]
                mean, std, n = _mean_std(deltas)
                row[metric] = {"mean": mean, "std": std, "n": n, "positive": sum(d > 0 for d in deltas)}
            effects[f"rho{rho}__{method}__vs__{base}"] = row
    return effects


def _effects_table(effects: dict) -> str:
    lines = [
        "| rho | method vs baseline | seeds | Δ all | Δ many | Δ medium | Δ few | Δ SpA cos | seeds with Δ all > 0 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in effects.items():
        rho, method, _, base = key.split("__")

        def cell(metric, scale=100.0, digits=1, row=row):
            e = row[metric]
            if e["mean"] is None:
                return "—"
            sign = "+" if e["mean"] >= 0 else ""
            text = f"{sign}{scale * e['mean']:.{digits}f}"
            return text + (f" ± {scale * e['std']:.{digits}f}" if e["n"] > 1 else "")

        lines.append(
            f"| {rho[3:]} | {method} vs {base} | {len(row['seeds'])} | {cell('accuracy')} | {cell('many_accuracy')} | "
            f"{cell('medium_accuracy')} | {cell('few_accuracy')} | {cell('spa_cosine', 1.0, 3)} | "
            f"{row['accuracy']['positive']}/{row['accuracy']['n']} |"
        )
    return "\n".join(lines)


def report(
    runs_dir: Path = RUNS_DIR,
    json_path: Path = RESULT_JSON,
    md_path: Path = RESULT_MD,
    cards_dir: Path | None = None,
) -> dict:
    results = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))]
    groups: dict[str, list[dict]] = {}
    for r in results:
        key = r["run"].rsplit("__seed", 1)[0]
        groups.setdefault(key, []).append(r)
    summary = {}
    for key, runs in sorted(groups.items()):
        row = {"seeds": sorted(r["spec"]["seed"] for r in runs)}
        for metric in ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "nc1", "spa_cosine"):
            row[metric] = _mean_std([r["test"].get(metric) for r in runs])
        # wall time on a shared machine: the fastest seed is the least disturbed by other work
        row["seconds_per_epoch"] = _mean_std([min(r["seconds_per_epoch"] for r in runs)])
        row["seconds_per_epoch_all_seeds"] = [r["seconds_per_epoch"] for r in runs]
        row["disa_grad_ratio"] = _mean_std([r.get("disa_grad_ratio_mean") for r in runs])
        row["validation_accuracy"] = _mean_std([r["validation_final"].get("accuracy") for r in runs])
        summary[key] = row
    lines = [
        "| run (rho, method) | seeds | all | many | medium | few | NC1 | SpA cos | DisA/sup grad | s/epoch (min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in summary.items():
        rho, method = key.split("__")
        cells = [
            f"{rho[3:]} {method}",
            str(len(row["seeds"])),
            *(_fmt(*row[m]) for m in ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy")),
            _fmt(*row["nc1"], scale=1, digits=2),
            _fmt(*row["spa_cosine"], scale=1, digits=3),
            _fmt(*row["disa_grad_ratio"], scale=1, digits=3),
            _fmt(*row["seconds_per_epoch"], scale=1, digits=1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    effects = paired_effects(groups)
    effects_table = _effects_table(effects)
    if cards_dir is not None:
        _render_cards(groups, cards_dir)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"runs": len(results), "summary": summary, "paired_effects": effects}, indent=1))
    md_path.write_text(
        "Fashion-MNIST-LT test accuracy (%) — mean ± std over seeds; NC1, SpA cosine on the test features; "
        "DisA/sup grad = ratio of the DisA gradient norm to the supervised one (features, logged every 10 steps); "
        "s/epoch (min) = wall seconds per epoch of the fastest seed.\n\n"
        + table
        + "\n\nPaired effects: same-seed differences method − baseline (accuracy in points, mean ± std over "
        "seeds).\n\n" + effects_table + "\n"
    )
    print(table)
    print()
    print(effects_table)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CE, CE+DisA, CE+SpA-Reg; rho 100; seed 0; 4 epochs.")
    parser.add_argument("--report", action="store_true", help="Only aggregate the finished runs.")
    parser.add_argument("--max-runs", type=int, default=None, help="Stop after this many new runs.")
    args = parser.parse_args(argv)
    runs_dir = QUICK_RUNS_DIR if args.quick else RUNS_DIR
    json_path = runs_dir.parent / ("fmnist_lt_quick.json" if args.quick else "fmnist_lt.json")
    md_path = runs_dir.parent / ("fmnist_lt_quick.md" if args.quick else "fmnist_lt.md")
    if not args.report:
        cache: dict = {}
        done = 0
        for spec in run_plan(args.quick):
            out_file = runs_dir / f"{run_name(spec)}.json"
            if out_file.exists():
                continue
            t0 = time.perf_counter()
            result = run_one(spec, out_file, cache)
            done += 1
            print(
                f"[{time.strftime('%H:%M:%S')}] {result['run']}: test acc {100 * result['test']['accuracy']:.2f} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
            if args.max_runs is not None and done >= args.max_runs:
                break
    report(runs_dir, json_path, md_path, cards_dir=None if args.quick else ROOT / "model_cards" / "fmnist_lt")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
