"""Every plot function writes a non-empty PNG of exactly figsize * dpi pixels."""

import math

import matplotlib.image as mpimg
import numpy as np
import pytest

from ltnc_hf.metrics import (
    long_tail_accuracy,
    neural_collapse_metrics,
    plot_alignment_matrix,
    plot_class_mean_angles,
    plot_confusion_matrix,
    plot_nc_traces,
    plot_per_class_accuracy,
    plot_transport_plan,
    plot_tsne,
)

K, D = 6, 12


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.arange(K), rng.integers(0, K, size=114)])
    centres = rng.normal(size=(K, D)) * 3
    h = centres[y] + rng.normal(size=(120, D))
    w = centres - centres.mean(0) + rng.normal(size=(K, D)) * 0.5
    return h, y, w


def check_png(path, figsize, dpi):
    image = mpimg.imread(path)
    assert image.shape[:2] == (round(figsize[1] * dpi), round(figsize[0] * dpi))
    rgb = image[..., :3]
    assert rgb.std() > 0.01  # something was drawn, not a blank canvas
    return image


def test_transport_plan_and_alignment(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, K, size=40)
    plan = rng.random((40, K))
    plan /= plan.sum() * 1.0
    path = plot_transport_plan(plan, labels, tmp_path / "plan.png", figsize=(4, 3), dpi=50)
    assert path == str(tmp_path / "plan.png")
    check_png(path, (4, 3), 50)
    alignment = np.eye(K)[labels].T @ plan
    check_png(plot_alignment_matrix(alignment, tmp_path / "sub" / "a.png"), (6.0, 5.0), 100)
    with pytest.raises(ValueError, match="PNG"):
        plot_alignment_matrix(alignment, tmp_path / "a.pdf")
    with pytest.raises(ValueError, match="rows"):
        plot_transport_plan(plan, labels[:5], tmp_path / "bad.png")


def test_nc_traces(tmp_path):
    history = []
    for epoch in range(1, 6):
        decay = math.exp(-epoch / 2)
        history.append(
            {
                "epoch": float(epoch),
                "step": epoch * 10,
                "eval_trace_within": decay,
                "eval_trace_between": 1.0,
                "eval_trace_total": 1.0 + decay,
                "eval_nc1": decay / 2,
                "eval_nc2_equiangular": 0.3 * decay,
                "eval_nc3": 0.5 * decay,
                "eval_spa_cosine": 1 - decay,
                "eval_accuracy": 0.5 + 0.05 * epoch,
            }
        )
    check_png(plot_nc_traces(history, tmp_path / "traces.png", figsize=(8, 6), dpi=60), (8, 6), 60)
    # a history with only accuracy still plots (other panels say "not recorded")
    check_png(plot_nc_traces([{"step": 1, "accuracy": 0.3}], tmp_path / "acc.png", dpi=40), (11.0, 8.0), 40)


def test_class_mean_angles(tmp_path, data):
    h, y, w = data
    cos = neural_collapse_metrics(h, y, weight=w)["class_mean_cosines"]
    check_png(plot_class_mean_angles(cos, tmp_path / "angles.png", dpi=60), (6.5, 5.5), 60)
    # an absent class (NaN row) is left blank, not an error
    cos_missing = cos.copy()
    cos_missing[2, :] = cos_missing[:, 2] = np.nan
    check_png(plot_class_mean_angles(cos_missing, tmp_path / "angles2.png", dpi=40), (6.5, 5.5), 40)


def test_confusion_and_per_class(tmp_path, data):
    h, y, w = data
    logits = h @ w.T
    counts = [500, 200, 90, 40, 15, 5]
    check_png(plot_confusion_matrix(logits, y, tmp_path / "cm.png", dpi=50), (6.5, 5.5), 50)
    check_png(
        plot_confusion_matrix(logits.argmax(1), y, tmp_path / "cm_counts.png", num_classes=K, normalize=None, dpi=40),
        (6.5, 5.5),
        40,
    )
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix(logits, y, tmp_path / "x.png", normalize="rows")
    acc = long_tail_accuracy(logits, y, counts)["per_class_accuracy"]
    acc[3] = None
    names = [f"c{k}" for k in range(K)]
    check_png(plot_per_class_accuracy(acc, counts, tmp_path / "pc.png", class_names=names, dpi=50), (7.0, 4.5), 50)


def test_tsne(tmp_path, data):
    h, y, w = data
    path = plot_tsne(h, y, tmp_path / "tsne.png", weight=w, max_samples=60, max_iter=250, figsize=(5, 4), dpi=50)
    check_png(path, (5, 4), 50)
    # wide features go through PCA first; no classifier weight
    wide = np.concatenate([h, np.random.default_rng(2).normal(size=(h.shape[0], 60))], axis=1)
    check_png(plot_tsne(wide, y, tmp_path / "tsne2.png", max_samples=60, max_iter=250, dpi=40), (7.0, 6.0), 40)
