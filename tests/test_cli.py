"""The `ltnc-hf` command line: train from a recipe, evaluate, build-dataset, push (offline), bad input."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from huggingface_hub import HfApi

from ltnc_hf.cli import main

TINY = {
    "dataset": "digits",
    "imbalance_factor": 10,
    "train_transform": "basic",
    "image_size": 8,
    "backbone": "cifar_resnet8",
    "backbone_kwargs": {"in_chans": 1},
    "head": "linear",
    "disa_target_etf": True,
    "loss_type": "ce",
    "disa": True,
    "disa_weight": 1.0,
    "max_steps": 3,
    "learning_rate": 0.05,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 256,
    "save_strategy": "no",
    "eval_strategy": "no",
    "use_cpu": True,
    "disable_tqdm": True,
    "report_to": "none",
}


def _recipe(tmp_path, **overrides):
    recipe = dict(TINY, output_dir=str(tmp_path / "out"), **overrides)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    code = main(["train", "--config", str(_recipe(tmp_path)), "--seed", "1"])
    assert code == 0
    return tmp_path / "out"


def test_train_writes_model_card_metrics_and_plots(trained, capsys):
    final = trained / "final"
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md"):
        assert (final / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert 0.0 <= metrics["evaluation"]["accuracy"] <= 1.0
    card = (final / "README.md").read_text()
    assert "model-index" in card and "DisA" in card
    plots = list((trained / "evaluation").glob("*.png"))
    assert {p.name for p in plots} >= {"confusion_matrix.png", "alignment_matrix.png", "per_class_accuracy.png"}


def test_evaluate_command_on_the_trained_model(trained, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--model",
            str(trained / "final"),
            "--dataset",
            "digits",
            "--imbalance-factor",
            "10",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    saved = json.loads((trained / "metrics.json").read_text())["evaluation"]
    assert report["accuracy"] == pytest.approx(saved["accuracy"])  # same model, same test split, same transform


def test_unknown_recipe_key_names_the_close_ones(tmp_path, capsys):
    path = _recipe(tmp_path, disa_epsilonn=0.5)
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Unknown option 'disa_epsilonn'" in err and "'disa_epsilon'" in err


def test_unknown_command_line_override_is_refused(tmp_path, capsys):
    assert main(["train", "--config", str(_recipe(tmp_path)), "--learnig_rate", "0.1"]) == 2
    assert "Did you mean 'learning_rate'" in capsys.readouterr().err


def test_method_option_without_its_method_is_refused_before_training(tmp_path, capsys):
    assert main(["train", "--config", str(_recipe(tmp_path, disa=False))]) == 2
    assert "disa_weight=1.0 has no effect because disa is off" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_build_dataset_saves_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "digits_lt"
    assert main(["build-dataset", "digits", "--imbalance-factor", "10", "--output", str(out)]) == 0
    table = capsys.readouterr().out
    assert "many" in table and "train:" in table
    from datasets import load_from_disk

    from ltnc_hf.data import class_counts

    counts = class_counts(load_from_disk(str(out))["train"])
    assert max(counts) / min(counts) == pytest.approx(10, rel=0.05)
    assert main(["build-dataset", "digits", "--imbalance-factor", "10", "--output", str(out)]) == 2
    assert str(out) in capsys.readouterr().err


def test_push_sends_weights_processor_card_and_code(trained, monkeypatch, capsys):
    sent = {}

    def create_repo(self, repo_id, **kw):
        sent["repo"] = repo_id

    def upload_folder(self, *, folder_path, repo_id, ignore_patterns=None, **kw):
        sent["files"] = sorted(os.listdir(folder_path))
        sent["ignore"] = ignore_patterns
        return "https://huggingface.co/user/model/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert main(["push", str(trained / "final"), "--repo-id", "user/model"]) == 0
    assert sent["repo"] == "user/model"
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "modeling_ltnc.py"):
        assert name in sent["files"], name
    assert "*.bin" in sent["ignore"]


def test_push_refuses_a_folder_without_weights(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo-id", "user/model"]) == 2
    assert "model.safetensors" in capsys.readouterr().err


def test_demo_falls_back_to_digits_offline_without_fashion_mnist(tmp_path, monkeypatch, capsys):
    import ltnc_hf.data.fashion_mnist as fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEFAULT_FASHION_MNIST_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--output-dir",
            str(out),
            "--epochs",
            "1",
            "--max_steps",
            "3",
            "--disable_tqdm",
            "True",
            "--save_strategy",
            "no",
            "--eval_strategy",
            "no",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "running the demo on scikit-learn's bundled digits" in printed
    assert "| all |" in printed and "| few |" in printed
    assert (out / "final" / "model.safetensors").is_file() and (out / "metrics.json").is_file()
