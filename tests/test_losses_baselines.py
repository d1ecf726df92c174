"""Supervised baselines against independent NumPy computations of their formulas; mixup, class weights, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltnc_hf.losses import (
    INCLoss,
    class_balanced_weights,
    create_loss,
    drw_class_weights,
    ldam_margins,
)

COUNTS = [500, 200, 80, 30, 10, 4]
K = len(COUNTS)
B = 16


# ---------------------------------------------------------------- NumPy references (float64, written from the papers)
def np_log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def np_cb_weights(counts, beta):
    n = np.asarray(counts, dtype=np.float64)
    w = (1 - beta) / (1 - beta**n)
    return w / w.sum() * len(n)


def np_ce(z, y, smoothing=0.0):
    logp = np_log_softmax(z)
    return -(1 - smoothing) * logp[np.arange(len(y)), y] - smoothing * logp.mean(axis=1)


def np_focal(z, y, gamma=2.0):
    logp = np_log_softmax(z)[np.arange(len(y)), y]
    return -((1 - np.exp(logp)) ** gamma) * logp


def np_cb_softmax(z, y, beta=0.999):
    return np_cb_weights(COUNTS, beta)[y] * np_ce(z, y)


def np_cb_sigmoid(z, y, beta=0.999):
    t = np.eye(z.shape[1])[y]
    bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return np_cb_weights(COUNTS, beta)[y] * bce.sum(axis=1)


def np_ldam(z, y, max_m=0.5, s=30.0):
    m = 1.0 / np.sqrt(np.sqrt(np.asarray(COUNTS, dtype=np.float64)))
    m = m * (max_m / m.max())
    z = z.copy()
    z[np.arange(len(y)), y] -= m[y]
    return np_ce(s * z, y)


def np_balanced_softmax(z, y):
    return np_ce(z + np.log(np.asarray(COUNTS, dtype=np.float64)), y)


def np_dot_regression(h, w, y):
    wy = w[y]
    dot = (h * wy).sum(axis=1)
    hn, wn = np.linalg.norm(h, axis=1), np.linalg.norm(wy, axis=1)
    return 0.5 * (dot - wn * hn) ** 2 / hn


def np_reduce(per_sample, y, class_weight=None):
    if class_weight is None:
        return per_sample.mean()
    w = np.asarray(class_weight, dtype=np.float64)[y]
    return (w * per_sample).sum() / w.sum()


def _batch(seed=0, dim=8, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(B, K, generator=g)
    labels = torch.randint(0, K, (B,), generator=g)
    labels_b = torch.randint(0, K, (B,), generator=g)
    features = torch.randn(B, dim, generator=g)
    return logits, labels, labels_b, features


CASES = {
    "ce": ({}, lambda z, y, h: np_ce(z, y)),
    "ce_smooth": ({"label_smoothing": 0.1}, lambda z, y, h: np_ce(z, y, 0.1)),
    "focal": ({}, lambda z, y, h: np_focal(z, y, 2.0)),
    "cb_softmax": ({}, lambda z, y, h: np_cb_softmax(z, y)),
    "cb_sigmoid": ({}, lambda z, y, h: np_cb_sigmoid(z, y)),
    "ldam": ({}, lambda z, y, h: np_ldam(np.tanh(z / 3), y)),  # cosine logits in [-1, 1]
    "balanced_softmax": ({}, lambda z, y, h: np_balanced_softmax(z, y)),
}


def _build(case):
    kwargs, _ = CASES[case]
    name = "ce" if case == "ce_smooth" else case
    return create_loss(name, class_counts=COUNTS, **kwargs)


def _inputs(case, logits):
    return torch.tanh(logits / 3) if case == "ldam" else logits


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("weighted", (False, True))
def test_matches_numpy_reference(case, weighted):
    logits, labels, _, _ = _batch()
    z = _inputs(case, logits)
    class_weight = torch.linspace(0.5, 2.0, K) if weighted else None
    loss = _build(case)(z, labels, class_weight=class_weight)
    per_sample = CASES[case][1](logits.double().numpy(), labels.numpy(), None)
    expected = np_reduce(per_sample, labels.numpy(), None if class_weight is None else class_weight.double().numpy())
    assert loss.dtype == torch.float32 and loss.ndim == 0
    assert float(loss) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mixup_is_lambda_combination_and_gradients_are_finite(case):
    logits, labels, labels_b, _ = _batch(seed=1)
    z = _inputs(case, logits).detach().requires_grad_(True)
    loss_fn = _build(case)
    lam = 0.3
    class_weight = drw_class_weights(COUNTS)
    loss = loss_fn(z, labels, labels_b=labels_b, lam=lam, class_weight=class_weight)
    loss.backward()
    assert bool(torch.isfinite(z.grad).all()) and float(z.grad.abs().sum()) > 0
    ref = CASES[case][1]
    zn, cw = logits.double().numpy(), class_weight.double().numpy()
    expected = lam * np_reduce(ref(zn, labels.numpy(), None), labels.numpy(), cw) + (1 - lam) * np_reduce(
        ref(zn, labels_b.numpy(), None), labels_b.numpy(), cw
    )
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # lam=1 ignores labels_b; lam=0 is the loss of labels_b alone
    base = loss_fn(z, labels)
    torch.testing.assert_close(loss_fn(z, labels, labels_b=labels_b, lam=1.0), base)
    torch.testing.assert_close(loss_fn(z, labels, labels_b=labels_b, lam=0.0), loss_fn(z, labels_b))


def test_label_smoothing_agrees_with_torch_without_weights():
    logits, labels, _, _ = _batch(seed=2)
    ours = create_loss("ce", label_smoothing=0.2)(logits, labels)
    torch.testing.assert_close(ours, torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.2))


def test_weighted_ce_agrees_with_torch_weight_argument():
    logits, labels, _, _ = _batch(seed=3)
    weight = drw_class_weights(COUNTS)
    ours = create_loss("ce")(logits, labels, class_weight=weight)
    torch.testing.assert_close(ours, torch.nn.functional.cross_entropy(logits, labels, weight=weight))


def test_class_count_derived_vectors():
    np.testing.assert_allclose(class_balanced_weights(COUNTS, 0.999).numpy(), np_cb_weights(COUNTS, 0.999), rtol=1e-6)
    drw = drw_class_weights(COUNTS)
    np.testing.assert_allclose(drw.numpy(), np_cb_weights(COUNTS, 0.9999), rtol=1e-6)
    assert float(drw.sum()) == pytest.approx(K, rel=1e-6)
    assert bool((drw[1:] > drw[:-1]).all())  # rarer classes weigh more
    margins = ldam_margins(COUNTS)
    assert float(margins.max()) == pytest.approx(0.5) and int(margins.argmax()) == K - 1
    np.testing.assert_allclose(margins.numpy() / margins[0].item(), (COUNTS[0] / np.array(COUNTS)) ** 0.25, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------- Dot-Regression
def _unit_rows(k, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=1).float()


@pytest.mark.parametrize("source", ("logits", "classifier_weight"))
def test_dot_regression_matches_numpy(source):
    _, labels, labels_b, features = _batch(seed=4)
    weight = _unit_rows(K, features.shape[1])
    scale = 4.0
    logits = scale * features @ weight.T
    if source == "logits":
        loss_fn = create_loss("dot_regression", logit_scale=scale)
    else:
        weight = weight * torch.linspace(0.5, 1.5, K).unsqueeze(1)  # non-unit rows: norms read from the weight
        loss_fn = create_loss("dot_regression", classifier_weight=weight)
    assert loss_fn.requires_features
    feats = features.clone().requires_grad_(True)
    loss = loss_fn(logits if source == "logits" else feats @ weight.T, labels, features=feats)
    expected = np_dot_regression(features.double().numpy(), weight.double().numpy(), labels.numpy()).mean()
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    mixed = loss_fn(logits, labels, labels_b=labels_b, lam=0.6, features=feats)
    exp_b = np_dot_regression(features.double().numpy(), weight.double().numpy(), labels_b.numpy()).mean()
    assert float(mixed.detach()) == pytest.approx(0.6 * expected + 0.4 * exp_b, rel=1e-5)


def test_dot_regression_gradient_pulls_feature_onto_its_vertex_and_is_finite_at_zero():
    weight = _unit_rows(K, 8)
    features = torch.randn(B, 8, generator=torch.Generator().manual_seed(5))
    features[0] = 0.0
    features.requires_grad_(True)
    labels = torch.arange(B) % K
    loss_fn = create_loss("dot_regression", classifier_weight=weight)
    loss = loss_fn(features @ weight.T, labels, features=features)
    loss.backward()
    assert bool(torch.isfinite(features.grad).all())
    with torch.no_grad():
        moved = features - 0.1 * features.grad
        before = torch.nn.functional.cosine_similarity(features[1:], weight[labels[1:]], dim=1)
        after = torch.nn.functional.cosine_similarity(moved[1:], weight[labels[1:]], dim=1)
    assert bool((after >= before - 1e-6).all()) and float((after - before).sum()) > 0


def test_dot_regression_needs_features_and_matching_dim():
    weight = _unit_rows(K, 8)
    logits, labels, _, _ = _batch()
    with pytest.raises(ValueError, match="needs the penultimate `features`"):
        create_loss("dot_regression")(logits, labels)
    with pytest.raises(ValueError, match="features` have dim 5"):
        create_loss("dot_regression", classifier_weight=weight)(logits, labels, features=torch.randn(B, 5))


# ------------------------------------------------------------------------------------------------------------- INC
def np_inc(features, labels, means, k):
    nc1 = 0.0
    for c in range(k):
        sel = labels == c
        if sel.any():
            nc1 += ((features[sel] - means[c]) ** 2).sum(axis=1).mean()
    nc1 /= k
    centred = means - means.mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    nc2 = -np.arccos(np.clip(cos.max(axis=1), -0.99999, 0.99999)).mean()
    return nc1, nc2


def test_inc_matches_numpy_and_mixup():
    _, labels, labels_b, features = _batch(seed=6)
    labels[labels == 2] = 1  # a class absent from the batch contributes nothing to NC1
    inc = INCLoss(K, features.shape[1], nc1_weight=0.01, nc2_weight=0.1, seed=0)
    means = inc.means.detach().double().numpy()
    loss = inc(features, labels)
    nc1, nc2 = np_inc(features.double().numpy(), labels.numpy(), means, K)
    assert float(inc.last_nc1) == pytest.approx(nc1, rel=1e-5)
    assert float(inc.last_nc2) == pytest.approx(nc2, rel=1e-5)
    assert float(loss.detach()) == pytest.approx(0.01 * nc1 + 0.1 * nc2, rel=1e-5)
    mixed = inc(features, labels, labels_b=labels_b, lam=0.25)
    nc1_b, _ = np_inc(features.double().numpy(), labels_b.numpy(), means, K)
    assert float(mixed.detach()) == pytest.approx(0.01 * (0.25 * nc1 + 0.75 * nc1_b) + 0.1 * nc2, rel=1e-5)


def test_inc_means_are_trainable_and_seeded():
    inc = INCLoss(K, 8)
    assert [name for name, _ in inc.named_parameters()] == ["means"]
    torch.testing.assert_close(INCLoss(K, 8).means, inc.means)
    assert not torch.equal(INCLoss(K, 8, seed=1).means, inc.means)
    _, labels, _, features = _batch(seed=7)
    features = features.requires_grad_(True)
    inc(features, labels).backward()
    assert bool(torch.isfinite(inc.means.grad).all()) and float(inc.means.grad.abs().sum()) > 0
    assert bool(torch.isfinite(features.grad).all())
    with pytest.raises(ValueError, match=r"shape \(batch, 8\)"):
        inc(torch.randn(B, 9), labels)
