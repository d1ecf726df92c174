"""neural_collapse_metrics against a NumPy transcription of the definitions (DisA §3.2), plus the collapsed limit."""

import json
import math

import numpy as np
import pytest
import torch

import ltnc_hf.metrics.neural_collapse as nc_module
from ltnc_hf.metrics import neural_collapse_metrics, to_jsonable


def numpy_reference(h, y, w=None, b=None):
    """Definitions written out with explicit per-class loops and a full pseudo-inverse (slow, obviously right)."""
    classes = sorted(set(y.tolist()))
    k = len(classes)
    d = h.shape[1]
    mu = {c: h[y == c].mean(axis=0) for c in classes}
    mu_g = sum(mu.values()) / k
    sigma_w = np.zeros((d, d))
    sigma_t = np.zeros((d, d))
    for c in classes:
        hc = h[y == c]
        for x in hc:
            sigma_w += np.outer(x - mu[c], x - mu[c]) / (len(hc) * k)
            sigma_t += np.outer(x - mu_g, x - mu_g) / (len(hc) * k)
    m = np.stack([mu[c] - mu_g for c in classes])  # (K', d)
    sigma_b = sum(np.outer(r, r) for r in m) / k
    # Σ_B has rank K'-1 (or d): pinv with a tolerance well above round-off, well below the spectrum
    out = {
        "nc1": np.trace(sigma_w @ np.linalg.pinv(sigma_b, rcond=1e-9, hermitian=True)) / k,
        "trace_within": np.trace(sigma_w),
        "trace_between": np.trace(sigma_b),
        "trace_total": np.trace(sigma_t),
    }
    norms = np.linalg.norm(m, axis=1)
    out["nc2_equinorm"] = norms.std() / norms.mean()
    cos = (m @ m.T) / np.outer(norms, norms)
    out["nc2_equiangular"] = np.mean([abs(cos[i, j] + 1 / (k - 1)) for i in range(k) for j in range(k) if i != j])
    out["cos"] = cos
    nearest = np.array([classes[int(np.argmin([np.linalg.norm(x - mu[c]) for c in classes]))] for x in h])
    out["ncc_accuracy"] = np.mean(nearest == y)
    if w is not None:
        wp = w[classes]
        out["nc3"] = np.linalg.norm(wp / np.linalg.norm(wp) - m / np.linalg.norm(m))
        per = [wp[i] @ m[i] / (np.linalg.norm(wp[i]) * norms[i]) for i in range(k)]
        out["spa_cosine"] = np.mean(per)
        out["spa_per_class"] = per
        scores = h @ w.T + (0 if b is None else b)
        out["nc4"] = np.mean(scores.argmax(1) != nearest)
    return out


def make_features(n, d, k, *, seed=0, imbalance=True, missing=()):
    rng = np.random.default_rng(seed)
    probs = np.geomspace(1.0, 0.05, k) if imbalance else np.ones(k)
    probs[list(missing)] = 0.0
    probs /= probs.sum()
    present = [c for c in range(k) if c not in missing]
    y = np.concatenate([np.array(present), rng.choice(k, size=n - len(present), p=probs)])
    centres = rng.normal(size=(k, d)) * 2.0 + 1.5  # non-zero global offset
    h = centres[y] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=k)[y, None]
    return h, y, rng.normal(size=(k, d)), rng.normal(size=k)


@pytest.mark.parametrize(
    "n,d,k",
    [(400, 24, 7), (400, 4, 9)],  # d > K (Gram branch) and d < K (Σ_B branch)
)
def test_matches_numpy_reference(n, d, k):
    h, y, w, b = make_features(n, d, k)
    ref = numpy_reference(h, y, w, b)
    out = neural_collapse_metrics(h, y, weight=w, bias=b)
    for key in ("nc1", "trace_within", "trace_between", "trace_total", "nc2_equinorm", "nc2_equiangular", "nc3"):
        assert out[key] == pytest.approx(ref[key], rel=1e-9), key
    assert out["spa_cosine"] == pytest.approx(ref["spa_cosine"], rel=1e-9, abs=1e-12)
    assert out["ncc_accuracy"] == pytest.approx(ref["ncc_accuracy"])
    assert out["nc4"] == pytest.approx(ref["nc4"])
    np.testing.assert_allclose(out["class_mean_cosines"], ref["cos"], atol=1e-12)
    np.testing.assert_allclose(out["spa_cosine_per_class"], ref["spa_per_class"], atol=1e-12)
    # Σ_T = Σ_W + Σ_B with μ_G the mean of class means
    assert out["trace_total"] == pytest.approx(out["trace_within"] + out["trace_between"], rel=1e-12)
    assert out["w_m_cosine"] == pytest.approx(1 - out["nc3"] ** 2 / 2, abs=1e-12)
    # NC4 from logits equals NC4 from the classifier that produced them
    logits = h @ w.T + b
    assert neural_collapse_metrics(h, y, logits=logits, num_classes=k)["nc4"] == pytest.approx(ref["nc4"])


def test_absent_classes_are_excluded():
    k = 8
    h, y, w, _ = make_features(300, 16, k, missing=(2, 5))
    out = neural_collapse_metrics(h, y, weight=w)
    ref = numpy_reference(h, y, w)  # the reference only ever sees the present classes
    assert out["num_classes"] == k and out["num_classes_present"] == k - 2
    for key in ("nc1", "nc2_equiangular", "nc3", "spa_cosine", "trace_total"):
        assert out[key] == pytest.approx(ref[key], rel=1e-9), key
    assert np.isnan(out["spa_cosine_per_class"][[2, 5]]).all()
    assert np.isnan(out["class_mean_cosines"][2]).all() and np.isnan(out["class_mean_cosines"][:, 5]).all()
    json.dumps(to_jsonable(out), allow_nan=False)


def test_mu_g_is_mean_of_class_means():
    # two dense classes and one rare one: the sample mean differs a lot from the mean of class means
    h = np.array([[1.0, 0.0]] * 50 + [[-1.0, 0.0]] * 50 + [[0.0, 3.0]] * 2)
    h = h + np.random.default_rng(0).normal(scale=0.01, size=h.shape)
    y = np.array([0] * 50 + [1] * 50 + [2] * 2)
    out = neural_collapse_metrics(h, y)
    means = np.stack([h[y == c].mean(0) for c in range(3)])
    centred = means - means.mean(0)
    assert out["trace_between"] == pytest.approx((centred**2).sum() / 3, rel=1e-12)
    np.testing.assert_allclose(out["class_mean_norms"], np.linalg.norm(centred, axis=1), rtol=1e-12)


def qr_simplex_etf(d, k, seed=0):
    """Own construction: orthonormal U from QR of a Gaussian, M = sqrt(K/(K-1)) U (I - 11ᵀ/K)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(d, k)))
    return math.sqrt(k / (k - 1)) * u @ (np.eye(k) - np.ones((k, k)) / k)


@pytest.mark.parametrize("k,d", [(10, 16), (5, 5)])
def test_perfect_collapse_gives_zero(k, d):
    m = qr_simplex_etf(d, k)
    counts = np.array([60, 30, 15, 8, 4, 3, 2, 2, 1, 1][:k])  # imbalanced on purpose
    y = np.repeat(np.arange(k), counts)
    h = 7.5 * m.T[y]  # every feature sits on its (scaled) ETF vertex
    out = neural_collapse_metrics(h, y, weight=m.T)
    assert out["nc1"] == pytest.approx(0.0, abs=1e-20)
    assert out["trace_within"] == pytest.approx(0.0, abs=1e-20)
    assert out["nc2_equinorm"] == pytest.approx(0.0, abs=1e-12)
    assert out["nc2_equiangular"] == pytest.approx(0.0, abs=1e-12)
    assert out["nc2_w_equinorm"] == pytest.approx(0.0, abs=1e-12)
    assert out["nc2_w_equiangular"] == pytest.approx(0.0, abs=1e-12)
    assert out["nc3"] == pytest.approx(0.0, abs=1e-7)
    assert out["nc4"] == 0.0
    assert out["ncc_accuracy"] == 1.0
    assert out["spa_cosine"] == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(out["spa_cosine_per_class"], 1.0)
    off = out["class_mean_cosines"][~np.eye(k, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / (k - 1), atol=1e-12)


def test_random_features_are_far_from_collapse():
    rng = np.random.default_rng(3)
    k, d, n = 10, 32, 500
    y = rng.integers(0, k, size=n)
    h = rng.normal(size=(n, d))
    w = rng.normal(size=(k, d))
    out = neural_collapse_metrics(h, y, weight=w)
    assert out["nc1"] > 5.0  # within-class spread dwarfs the between-class one
    assert out["nc2_equinorm"] > 0.05 and out["nc2_equiangular"] > 0.1
    assert out["nc3"] > 1.0  # two unrelated unit-norm matrices: about sqrt(2)
    assert abs(out["spa_cosine"]) < 0.3
    assert out["nc4"] > 0.5


def test_torch_input_device_and_chunking(monkeypatch):
    h, y, w, _ = make_features(500, 12, 6, seed=4)
    ref = neural_collapse_metrics(h, y, weight=w)
    t = neural_collapse_metrics(torch.from_numpy(h).float(), torch.from_numpy(y), weight=torch.from_numpy(w).float())
    assert t["nc1"] == pytest.approx(ref["nc1"], rel=1e-5)
    # tiny chunks (256 rows) must give the same numbers as a single chunk
    monkeypatch.setattr(nc_module, "_CHUNK_ELEMENTS", 1)
    chunked = neural_collapse_metrics(h, y, weight=w)
    for key in ("nc1", "trace_within", "trace_total", "nc4", "ncc_accuracy"):
        assert chunked[key] == pytest.approx(ref[key], rel=1e-12), key


def test_errors():
    h = np.zeros((4, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        neural_collapse_metrics(h, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match=r"\(num_classes, dim\)"):
        neural_collapse_metrics(h, np.array([0, 1, 0, 1]), weight=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        neural_collapse_metrics(h, np.array([0, 1, 2, 1]), num_classes=2)
    with pytest.raises(ValueError, match="shape"):
        neural_collapse_metrics(h, np.array([0, 1]))
