"""The Fashion-MNIST-LT benchmark's report: aggregation over seeds and same-seed paired effects."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("fmnist_lt_bench", REPO / "benchmarks" / "fmnist_lt.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run(recipe, seed, accuracy, cosine, seconds, mixup=True):
    spec = {"rho": 100, "recipe": recipe, "seed": seed, "mixup": mixup}
    name = f"rho100__{recipe}{'' if mixup else '_nomixup'}__seed{seed}"
    test = {"accuracy": accuracy, "many_accuracy": accuracy, "medium_accuracy": accuracy - 0.1,
            "few_accuracy": None, "nc1": 1.0, "spa_cosine": cosine}  # fmt: skip
    return {"spec": spec, "run": name, "class_counts": [10, 1], "test": test,
            "validation_final": {"accuracy": accuracy}, "seconds_per_epoch": seconds,
            "disa_grad_ratio_mean": None}  # fmt: skip


def test_report_means_and_paired_effects(bench, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    fake = [
        _run("ce", 0, 0.80, 0.70, 10.0),
        _run("ce", 1, 0.70, 0.72, 12.0),
        _run("ce_spa_reg", 0, 0.82, 0.90, 11.0),
        _run("ce_spa_reg", 1, 0.69, 0.94, 10.5),
        _run("ce_spa_reg", 2, 0.99, 0.99, 9.0),  # no CE run with seed 2: not paired
    ]
    for r in fake:
        (runs / f"{r['run']}.json").write_text(json.dumps(r))
    summary = bench.report(runs, tmp_path / "out.json", tmp_path / "out.md", cards_dir=None)
    mean, std, n = summary["rho100__ce"]["accuracy"]
    assert n == 2 and mean == pytest.approx(0.75) and std == pytest.approx(0.0707107, rel=1e-5)
    assert summary["rho100__ce"]["seconds_per_epoch"][0] == 10.0  # the fastest seed
    effects = json.loads((tmp_path / "out.json").read_text())["paired_effects"]
    reg = effects["rho100__ce_spa_reg__vs__ce"]
    assert reg["seeds"] == [0, 1]
    assert reg["accuracy"]["mean"] == pytest.approx(0.005)  # (+0.02 - 0.01) / 2
    assert reg["accuracy"]["positive"] == 1 and reg["accuracy"]["n"] == 2
    assert reg["spa_cosine"]["mean"] == pytest.approx(0.21)
    assert reg["few_accuracy"]["mean"] is None
    md = (tmp_path / "out.md").read_text()
    assert "| 100 | ce_spa_reg vs ce | 2 | +0.5 ± 2.1 |" in md
    assert "rho100__ce_disa__vs__ce" not in effects  # no CE+DisA runs
