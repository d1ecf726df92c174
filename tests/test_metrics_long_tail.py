"""long_tail_accuracy and LongTailMetrics against independent NumPy / scikit-learn computations."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score
from transformers import EvalPrediction

from ltnc_hf.metrics import LongTailMetrics, long_tail_accuracy

# CIFAR-10-LT ρ=100 counts (LDAM-DRW): 3 many (>100), 4 medium, ... let the test compute its own groups
COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50, 30, 18, 11, 5]


def reference_groups(counts, many=100, few=20):
    groups = {"many": [], "medium": [], "few": []}
    for k, n in enumerate(counts):
        groups["many" if n > many else "few" if n < few else "medium"].append(k)
    return groups


def reference_accuracy(preds, labels, counts, many=100, few=20):
    """Straightforward loops: per-class recall, group = mean recall of the group's classes seen in `labels`."""
    per_class = {}
    for k in range(len(counts)):
        idx = [i for i, y in enumerate(labels) if y == k]
        if idx:
            per_class[k] = sum(preds[i] == k for i in idx) / len(idx)
    out = {"accuracy": sum(p == y for p, y in zip(preds, labels)) / len(labels)}
    for g, classes in reference_groups(counts, many, few).items():
        vals = [per_class[k] for k in classes if k in per_class]
        out[f"{g}_accuracy"] = sum(vals) / len(vals) if vals else None
    out["per_class"] = [per_class.get(k) for k in range(len(counts))]
    return out


@pytest.fixture
def imbalanced_predictions():
    rng = np.random.default_rng(1)
    k = len(COUNTS)
    labels = rng.integers(0, k, size=700)
    logits = rng.normal(size=(700, k))
    logits[np.arange(700), labels] += np.linspace(3.0, -1.0, k)[labels]  # head classes easier
    return logits, labels


def test_matches_reference_and_sklearn(imbalanced_predictions):
    logits, labels = imbalanced_predictions
    preds = logits.argmax(1)
    out = long_tail_accuracy(logits, labels, COUNTS)
    ref = reference_accuracy(preds.tolist(), labels.tolist(), COUNTS)
    for key in ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy"):
        assert out[key] == pytest.approx(ref[key], abs=1e-12)
    assert out["per_class_accuracy"] == pytest.approx(ref["per_class"], abs=1e-12)
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, preds), abs=1e-12)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert out["top5_accuracy"] == pytest.approx(np.mean([labels[i] in top5[i] for i in range(len(labels))]))
    groups = reference_groups(COUNTS)
    assert (out["num_many_classes"], out["num_medium_classes"], out["num_few_classes"]) == tuple(
        len(groups[g]) for g in ("many", "medium", "few")
    )
    # class ids give the same numbers, without top-5
    from_ids = long_tail_accuracy(preds, labels, COUNTS)
    assert "top5_accuracy" not in from_ids
    assert from_ids["many_accuracy"] == out["many_accuracy"]


def test_torch_input_and_json_safe(imbalanced_predictions):
    logits, labels = imbalanced_predictions
    a = long_tail_accuracy(logits, labels, COUNTS)
    b = long_tail_accuracy(torch.from_numpy(logits).to(torch.bfloat16).float(), torch.from_numpy(labels), COUNTS)
    assert a["accuracy"] == pytest.approx(b["accuracy"], abs=0.01)
    json.dumps(a, allow_nan=False)


def test_group_means_average_classes_not_samples():
    # medium group = classes 1 and 2; class 1 has 3 test samples all right, class 2 one sample wrong
    counts = [500, 50, 50, 5]
    labels = [0, 1, 1, 1, 2, 3]
    preds = [0, 1, 1, 1, 0, 3]
    out = long_tail_accuracy(preds, labels, counts)
    assert out["medium_accuracy"] == pytest.approx(0.5)  # mean of (1.0, 0.0), not 3/4
    assert out["accuracy"] == pytest.approx(5 / 6)


def test_group_edge_cases():
    # thresholds are strict: 100 and 20 are medium-shot
    counts = [101, 100, 20, 19]
    labels = [0, 1, 2, 3]
    out = long_tail_accuracy([0, 1, 0, 3], labels, counts)
    assert (out["num_many_classes"], out["num_medium_classes"], out["num_few_classes"]) == (1, 2, 1)
    assert out["medium_accuracy"] == pytest.approx(0.5)
    # custom thresholds (OLTR's >= 100 / <= 20)
    oltr = long_tail_accuracy([0, 1, 0, 3], labels, counts, many=99, few=21)
    assert (oltr["num_many_classes"], oltr["num_medium_classes"], oltr["num_few_classes"]) == (2, 0, 2)
    assert oltr["medium_accuracy"] is None
    # balanced data: no few-shot group at all -> None, never NaN
    balanced = long_tail_accuracy([0, 1, 1], [0, 1, 2], [500, 500, 500])
    assert balanced["few_accuracy"] is None and balanced["medium_accuracy"] is None
    assert balanced["many_accuracy"] == pytest.approx(2 / 3)
    # a class without test samples: None per class, excluded from its group and from balanced accuracy
    missing = long_tail_accuracy([0, 0], [0, 0], [500, 50, 5])
    assert missing["per_class_accuracy"] == [1.0, None, None]
    assert missing["medium_accuracy"] is None and missing["balanced_accuracy"] == 1.0
    json.dumps(missing, allow_nan=False)


def test_errors():
    with pytest.raises(ValueError, match="3 columns"):
        long_tail_accuracy(np.zeros((2, 3)), [0, 1], [10, 10])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        long_tail_accuracy([0, 1], [0, 2], [10, 10])
    with pytest.raises(ValueError, match="must match"):
        long_tail_accuracy([0, 1, 1], [0, 1], [10, 10])
    with pytest.raises(ValueError, match="few"):
        long_tail_accuracy([0], [0], [10, 10], many=10, few=20)


def test_long_tail_metrics_with_features():
    rng = np.random.default_rng(0)
    k, d, n = 6, 16, 240
    counts = [400, 150, 80, 40, 15, 8]
    labels = rng.integers(0, k, size=n)
    centres = rng.normal(size=(k, d)) * 3
    features = (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)
    weight = torch.from_numpy(centres - centres.mean(0)).float()
    logits = features @ weight.numpy().T
    metric = LongTailMetrics(counts, classifier_weight_fn=lambda: weight)
    out = metric(EvalPrediction(predictions=(logits, features), label_ids=labels))
    assert all(isinstance(v, float) for v in out.values())
    expected_acc = long_tail_accuracy(logits, labels, counts)
    assert out["accuracy"] == expected_acc["accuracy"]
    assert out["few_accuracy"] == expected_acc["few_accuracy"]
    for key in ("nc1", "nc2_equinorm", "nc2_equiangular", "nc3", "nc4", "spa_cosine", "trace_total"):
        assert key in out
    # classifier = centred class centres: strongly aligned, and per-group cosines average the per-class ones
    assert out["spa_cosine"] > 0.9
    assert np.mean([out["spa_cosine_many"], out["spa_cosine_medium"], out["spa_cosine_few"]]) > 0.9
    json.dumps(out, allow_nan=False)

    # logits only: accuracy keys, no NC keys, no lists
    plain = LongTailMetrics(counts)(EvalPrediction(predictions=logits, label_ids=labels))
    assert "nc1" not in plain and "per_class_accuracy" not in plain
    assert plain["accuracy"] == out["accuracy"]
    # nc=False skips the diagnostics even with features
    assert "nc1" not in LongTailMetrics(counts, nc=False)(
        EvalPrediction(predictions=(logits, features), label_ids=labels)
    )
    # without a classifier: NC4 from the logits, no classifier-dependent keys
    no_w = LongTailMetrics(counts)(EvalPrediction(predictions=(logits, features), label_ids=labels))
    assert "nc4" in no_w and "nc3" not in no_w and "spa_cosine" not in no_w
    assert no_w["nc1"] == pytest.approx(out["nc1"])


def test_long_tail_metrics_drops_empty_groups():
    counts = [500, 500, 500]
    out = LongTailMetrics(counts)(EvalPrediction(predictions=np.eye(3), label_ids=np.arange(3)))
    assert "few_accuracy" not in out and "medium_accuracy" not in out
    assert out["many_accuracy"] == 1.0
