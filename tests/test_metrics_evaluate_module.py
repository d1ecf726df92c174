"""The local `evaluate` module loads offline and agrees with the library functions."""

import os

import numpy as np
import pytest

evaluate = pytest.importorskip("evaluate")

from ltnc_hf.metrics import EVALUATE_MODULE_PATH, long_tail_accuracy, neural_collapse_metrics  # noqa: E402

COUNTS = [300, 120, 60, 30, 12, 6]


@pytest.fixture(scope="module")
def metric():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return evaluate.load(EVALUATE_MODULE_PATH, train_class_counts=COUNTS, keep_in_memory=True)


def sample(seed=0, n=90):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(COUNTS), size=n)
    logits = rng.normal(size=(n, len(COUNTS)))
    logits[np.arange(n), labels] += 1.0
    return logits, labels


def test_loads_offline_and_matches_long_tail_accuracy(metric):
    assert metric.name == "long_tail_nc"
    logits, labels = sample()
    out = metric.compute(predictions=logits, references=labels)
    assert out == long_tail_accuracy(logits, labels, COUNTS)  # the same dict, top-5 included
    ids = metric.compute(predictions=logits.argmax(1), references=labels)
    assert ids == long_tail_accuracy(logits.argmax(1), labels, COUNTS)


def test_batches_and_kwargs_override(metric):
    logits, labels = sample(1)
    for start in range(0, 90, 30):
        metric.add_batch(predictions=logits[start : start + 30], references=labels[start : start + 30])
    counts = [50] * 6  # passed to compute: overrides the counts given at load time
    out = metric.compute(train_class_counts=counts, many=40, few=10)
    assert out == long_tail_accuracy(logits, labels, counts, many=40, few=10)
    assert out["num_many_classes"] == 6


def test_neural_collapse_inputs(metric):
    logits, labels = sample(2)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(90, 8))
    weight = rng.normal(size=(len(COUNTS), 8))
    out = metric.compute(predictions=logits, references=labels, features=features, classifier_weight=weight)
    ref = neural_collapse_metrics(features, labels, weight=weight, logits=logits)
    for key in ("nc1", "nc2_equinorm", "nc3", "nc4", "spa_cosine", "trace_total"):
        assert out[key] == pytest.approx(ref[key], rel=1e-12), key
    np.testing.assert_allclose(np.array(out["class_mean_cosines"]), ref["class_mean_cosines"], rtol=1e-12)
    assert out["accuracy"] == long_tail_accuracy(logits, labels, COUNTS)["accuracy"]


def test_missing_counts_is_an_error():
    bare = evaluate.load(EVALUATE_MODULE_PATH, keep_in_memory=True)
    with pytest.raises(ValueError, match="train_class_counts"):
        bare.compute(predictions=[0, 1], references=[0, 1])


def test_features_accumulate_over_batches(metric):
    logits, labels = sample(4)
    features = np.random.default_rng(5).normal(size=(90, 8))
    for start in range(0, 90, 30):
        part = slice(start, start + 30)
        metric.add_batch(predictions=logits[part], references=labels[part], features=features[part])
    out = metric.compute()
    ref = neural_collapse_metrics(features, labels, logits=logits, num_classes=len(COUNTS))
    for key in ("nc1", "nc2_equinorm", "nc4", "trace_total"):
        assert out[key] == pytest.approx(ref[key], rel=1e-12), key
    # ids and features; then batches without features give no NC statistics
    for start in range(0, 90, 45):
        part = slice(start, start + 45)
        metric.add_batch(predictions=logits[part].argmax(1), references=labels[part], features=features[part])
    assert metric.compute()["nc1"] == pytest.approx(ref["nc1"], rel=1e-12)
    metric.add_batch(predictions=logits, references=labels)
    assert "nc1" not in metric.compute()
    metric.add_batch(predictions=logits[:45], references=labels[:45], features=features[:45])
    metric.add_batch(predictions=logits[45:], references=labels[45:])
    with pytest.raises(ValueError, match="for some batches only"):
        metric.compute()
