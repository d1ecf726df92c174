"""create_model_card renders the packaged template and round-trips through huggingface_hub.ModelCard."""

import pytest
from huggingface_hub import ModelCard

from ltnc_hf.model_card import METHODS, TEMPLATE_PATH, create_model_card

COUNTS = [500, 300, 180, 108, 65, 39, 23, 14, 8, 5]
RESULTS = {
    "accuracy": 0.8123,
    "many_accuracy": 0.9312,
    "medium_accuracy": 0.80155,
    "few_accuracy": 0.6021,
    "balanced_accuracy": 0.8123,
    "top5_accuracy": 0.99,
    "per_class_accuracy": [0.9] * 10,
    "neural_collapse": {"nc1": 0.1234, "nc3": 0.5, "spa_cosine": 0.75, "class_mean_cosines": [[1.0]]},
}


def make_card(**overrides):
    kwargs = dict(
        model_name="resnet32-cifar10-lt-r100-ldam-drw-disa",
        dataset_name="CIFAR-10-LT",
        imbalance_factor=100,
        results=RESULTS,
        method=["ldam", "drw", "disa"],
        recipe="recipes/cifar10_lt/ldam_drw_disa.yaml",
        etf_seed=7,
        class_counts=COUNTS,
        backbone="cifar_resnet32",
        training_args={"learning_rate": 0.1, "num_train_epochs": 200, "lr_scheduler_type": "cosine", "skip": [1]},
        dataset_id="someone/cifar10-lt",
    )
    kwargs.update(overrides)
    return create_model_card(**kwargs)


def test_round_trip_through_model_card(tmp_path):
    assert TEMPLATE_PATH.is_file()
    card = make_card()
    path = tmp_path / "README.md"
    card.save(path)
    loaded = ModelCard.load(path)
    data = loaded.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "image-classification"
    assert data["datasets"] == ["someone/cifar10-lt"]
    assert {"ltnc-hf", "long-tailed", "neural-collapse", "disa", "ldam", "drw", "cifar-10-lt"} <= set(data["tags"])
    assert "model-index" in data

    results = {r.metric_name: r for r in loaded.data.eval_results}
    assert set(results) == {
        "Top-1 accuracy (all classes)",
        "Top-1 accuracy (many-shot)",
        "Top-1 accuracy (medium-shot)",
        "Top-1 accuracy (few-shot)",
    }
    assert results["Top-1 accuracy (all classes)"].metric_value == pytest.approx(81.23)
    assert results["Top-1 accuracy (medium-shot)"].metric_value == pytest.approx(80.16)  # percent, 2 decimals
    for r in results.values():
        assert r.task_type == "image-classification"
        assert r.metric_type == "accuracy"
        assert r.dataset_name == "CIFAR-10-LT" and r.dataset_type == "someone/cifar10-lt"
        assert r.dataset_config == "rho100" and r.dataset_split == "test"
        assert r.dataset_args == {"imbalance_factor": 100.0}

    text = loaded.text
    assert text.lstrip().startswith("# resnet32-cifar10-lt-r100-ldam-drw-disa\n")
    assert "| 81.23 | 93.12 | 80.16 | 60.21 |" in text
    assert "Gao, Jintong and Zhao, He and Guo, Dandan and Zha, Hongyuan" in text  # DisA
    assert "Label-Distribution-Aware Margin" in text  # LDAM / DRW, cited once
    assert text.count("Label-Distribution-Aware Margin") == 1
    assert "Space Alignment Matters" not in text  # SpA not used
    assert "Prevalence of Neural Collapse" in text  # NC diagnostics are reported
    assert "**ETF seed**: 7" in text
    assert "recipes/cifar10_lt/ldam_drw_disa.yaml" in text
    assert ", ".join(map(str, COUNTS)) in text
    assert "4 many-shot, 3 medium-shot and 3 few-shot classes" in text
    assert "`learning_rate` | `0.1`" in text and "skip" not in text
    assert "0.1234" in text  # NC1 row


def test_spa_card_and_missing_groups(tmp_path):
    results = {"eval_accuracy": 0.5, "eval_many_accuracy": 0.7, "eval_medium_accuracy": 0.3, "eval_few_accuracy": None}
    card = make_card(method="spa", results=results, dataset_id=None, etf_seed=None, class_counts=None)
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    names = {r.metric_name for r in loaded.data.eval_results}
    assert "Top-1 accuracy (few-shot)" not in names and len(names) == 3
    assert loaded.data.eval_results[0].dataset_type == "cifar-10-lt"
    text = loaded.text
    assert "Wang, Jinping and Gao, Zhiqiang and Xie, Zhiwu" in text
    assert "Distribution Alignment Optimization" not in text
    assert "| 50.00 | 70.00 | 30.00 | – |" in text
    assert "ETF seed" not in text and "Prevalence of Neural Collapse" not in text


def test_balanced_and_errors():
    card = make_card(imbalance_factor=None, method=["ce"], results={"accuracy": 0.9})
    assert card.data.eval_results[0].dataset_config is None
    assert "ρ" not in card.text.split("## Training")[0].split("# resnet32")[1]
    with pytest.raises(ValueError, match="Unknown method 'magic'"):
        make_card(method=["magic"])
    with pytest.raises(ValueError, match="accuracy"):
        make_card(results={"nc1": 0.1})
    with pytest.raises(ValueError, match="fractions"):
        make_card(results={"accuracy": 81.2})
    with pytest.raises(ValueError, match="imbalance_factor"):
        make_card(imbalance_factor=0.5)
    assert {"disa", "spa_reg", "spa_slerp", "spa_proj"} <= set(METHODS)
