"""DisA loss: cost, plan, alignment matrix (paper sec. 4.3), gradients (detach vs unroll), and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from ltnc_hf.losses import DisALoss
from ltnc_hf.ot import sinkhorn


def _simplex_etf(num_classes: int, dim: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """Reference simplex ETF `sqrt(K/(K-1)) U (I - 11^T/K)`, shape (dim, K)."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(dim, num_classes, generator=g, dtype=dtype))
    centring = torch.eye(num_classes, dtype=dtype) - 1.0 / num_classes
    return math.sqrt(num_classes / (num_classes - 1)) * u @ centring


def _collapsed_batch(counts, etf, noise=0.01, seed=1):
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    g = torch.Generator().manual_seed(seed)
    features = etf[:, labels].T + noise * torch.randn(len(labels), etf.shape[0], generator=g, dtype=etf.dtype)
    return features, labels


def test_loss_is_transport_cost_of_the_sinkhorn_plan():
    etf = _simplex_etf(4, 6)
    g = torch.Generator().manual_seed(0)
    features = torch.randn(10, 6, generator=g, dtype=torch.float64)
    loss_fn = DisALoss(0.1)
    loss = loss_fn(features, etf)
    # independent cost: 1 - cos computed elementwise
    cos = torch.tensor(
        [[float(torch.dot(f, m) / (f.norm() * m.norm())) for m in etf.T] for f in features], dtype=torch.float64
    )
    plan = sinkhorn(1.0 - cos, 0.1, max_iter=200)
    torch.testing.assert_close(loss_fn.last_plan, plan)
    torch.testing.assert_close(loss, (plan * (1.0 - cos)).sum())
    assert loss_fn.last_info.converged
    # squared Euclidean option
    sq = DisALoss(1.0, cost="sqeuclidean")
    torch.testing.assert_close(sq.cost_matrix(features, etf), torch.cdist(features, etf.T) ** 2)


def test_alignment_matrix_of_collapsed_imbalanced_batch():
    """Paper sec. 4.3 on a collapsed, imbalanced batch.

    Each sample carries 1/B, so row k of A sums to n_k/B (imbalanced), while every vertex receives 1/K (balanced):
    head classes put exactly 1/K on their own vertex (not n_k/B as a label assignment would), tail classes put all
    their mass there, i.e. a tail sample weighs more on its vertex than a head sample.
    """
    num_classes = 5
    etf = _simplex_etf(num_classes, 8)
    counts = [24, 12, 6, 3, 2]
    features, labels = _collapsed_batch(counts, etf)
    batch = len(labels)
    loss_fn = DisALoss(0.05, max_iter=1000)
    loss_fn(features, etf)
    assert loss_fn.last_info.converged
    align = loss_fn.alignment_matrix(labels, num_classes)
    assert align.shape == (num_classes, num_classes)
    frac = torch.tensor(counts, dtype=torch.float64) / batch
    torch.testing.assert_close(align.sum(1), frac, atol=1e-6, rtol=0)
    torch.testing.assert_close(align.sum(0), torch.full((num_classes,), 1 / num_classes, dtype=torch.float64))
    # diagonal mass: min(n_k / B, 1 / K) -- balanced at 1/K for every class that can supply it
    expected_diag = torch.minimum(frac, torch.full_like(frac, 1 / num_classes))
    torch.testing.assert_close(align.diagonal(), expected_diag, atol=2e-3, rtol=0)
    head = frac >= 1 / num_classes
    assert head.sum() == 2 and bool(((align.diagonal()[head] - 1 / num_classes).abs() < 2e-3).all())
    # tail rows are diagonal: all of their mass sits on their own vertex
    tail_rows = align[~head]
    assert bool((tail_rows.diagonal(offset=int(head.sum())) / tail_rows.sum(1) > 0.99).all())
    # per-sample weight on the own vertex grows as the class gets rarer
    plan = loss_fn.last_plan
    own = plan[torch.arange(batch), labels] * batch
    per_class = torch.stack([own[labels == k].mean() for k in range(num_classes)])
    assert bool((per_class[1:] >= per_class[:-1] - 1e-4).all()) and per_class[-1] > 2 * per_class[0]
    # whereas the label assignment would make the diagonal follow the class frequencies
    assert align.diagonal().max() / align.diagonal().min() < frac.max() / frac.min()


def test_gradient_descent_moves_free_features_to_etf_vertices():
    num_classes, dim, per_class = 4, 6, 5
    etf = _simplex_etf(num_classes, dim, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    features = torch.randn(num_classes * per_class, dim, generator=g).requires_grad_(True)
    loss_fn = DisALoss(0.1)
    start = features.detach().clone()
    optimizer = torch.optim.SGD([features], lr=2.0)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = loss_fn(features, etf)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        final = loss_fn.last_plan.argmax(dim=1)
        start_cos = torch.nn.functional.cosine_similarity(start, etf[:, final].T, dim=1)
        end_cos = torch.nn.functional.cosine_similarity(features, etf[:, final].T, dim=1)
    assert losses[-1] < 0.5 * losses[0]
    assert bool((end_cos > start_cos).all())
    assert float(end_cos.mean()) > 0.95 and float(end_cos.min()) > 0.8
    # the features end near distinct vertices, balanced over the classes
    assert torch.bincount(final, minlength=num_classes).tolist() == [per_class] * num_classes


def test_detach_and_unroll_same_value_different_gradients():
    etf = _simplex_etf(5, 8)
    g = torch.Generator().manual_seed(3)
    base = torch.randn(12, 8, generator=g, dtype=torch.float64)
    grads, values = {}, {}
    for mode in ("detach", "unroll"):
        features = base.clone().requires_grad_(True)
        loss = DisALoss(0.5, plan_grad=mode)(features, etf)
        loss.backward()
        grads[mode], values[mode] = features.grad, loss.detach()
        assert bool(torch.isfinite(features.grad).all())
    torch.testing.assert_close(values["detach"], values["unroll"])
    assert float((grads["detach"] - grads["unroll"]).norm()) > 1e-3 * float(grads["detach"].norm())


def test_detach_gradient_is_plan_weighted_cost_gradient():
    etf = _simplex_etf(3, 4)
    features = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).requires_grad_(True)
    loss_fn = DisALoss(0.3)
    loss_fn(features, etf).backward()
    plan = loss_fn.last_plan
    features2 = features.detach().clone().requires_grad_(True)
    (plan * loss_fn.cost_matrix(features2, etf)).sum().backward()
    torch.testing.assert_close(features.grad, features2.grad)


@pytest.mark.parametrize("plan_grad", ("detach", "unroll"))
@pytest.mark.parametrize("cost", ("cosine", "sqeuclidean"))
def test_zero_norm_and_identical_features_stay_finite(plan_grad, cost):
    etf = _simplex_etf(4, 6, dtype=torch.float32)
    features = torch.zeros(8, 6)
    features[4:] = 1.0  # four identical rows after four zero rows
    features.requires_grad_(True)
    loss_fn = DisALoss(0.01, cost=cost, plan_grad=plan_grad, max_iter=1000)
    loss = loss_fn(features, etf)
    loss.backward()
    assert bool(torch.isfinite(loss)) and bool(torch.isfinite(features.grad).all())
    assert bool(torch.isfinite(loss_fn.last_plan).all())
    if cost == "cosine":  # squared distances of unnormalised features / 0.01 need more than 1000 iterations
        assert loss_fn.last_info.converged


def test_feature_dim_must_match_etf_rows():
    etf = _simplex_etf(4, 6)
    with pytest.raises(ValueError, match=r"features` have dim 5 but `etf` has shape \(6, 4\)"):
        DisALoss()(torch.randn(3, 5, dtype=torch.float64), etf)
    with pytest.raises(ValueError, match="transposed"):
        DisALoss()(torch.randn(3, 6, dtype=torch.float64), etf.T)


@pytest.mark.parametrize("epsilon", (0.0, -0.5))
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        DisALoss(epsilon)


@pytest.mark.parametrize("kwargs, match", [({"cost": "l1"}, "cosine"), ({"plan_grad": "implicit"}, "unroll")])
def test_unknown_choices_list_the_valid_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DisALoss(**kwargs)


def test_non_finite_features_raise():
    features = torch.randn(3, 6)
    features[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        DisALoss()(features, _simplex_etf(4, 6, dtype=torch.float32))


def test_alignment_matrix_errors():
    loss_fn = DisALoss()
    with pytest.raises(ValueError, match="call the DisA loss"):
        loss_fn.alignment_matrix(torch.zeros(3, dtype=torch.long), 4)
    loss_fn(torch.randn(3, 6), _simplex_etf(4, 6, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"class ids in \[0, 4\)"):
        loss_fn.alignment_matrix(torch.tensor([0, 1, 4]), 4)
    with pytest.raises(ValueError, match="2 entries but the batch has 3"):
        loss_fn.alignment_matrix(torch.tensor([0, 1]), 4)


def test_cost_is_full_precision_under_autocast():
    etf = _simplex_etf(4, 6, dtype=torch.float32)
    features = torch.randn(5, 6, generator=torch.Generator().manual_seed(8))
    loss_fn = DisALoss(0.05)
    reference = loss_fn.cost_matrix(features, etf)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        assert (features @ etf).dtype == torch.bfloat16  # what an unguarded matmul would give
        cost = loss_fn.cost_matrix(features, etf)
        loss = loss_fn(features, etf)
    assert cost.dtype == torch.float32 and loss.dtype == torch.float32
    torch.testing.assert_close(cost, reference)


def test_normalised_etf_cache_follows_in_place_changes():
    etf = _simplex_etf(4, 6, dtype=torch.float32)
    features = torch.randn(5, 6, generator=torch.Generator().manual_seed(9))
    loss_fn = DisALoss()
    first = loss_fn.cost_matrix(features, etf)
    torch.testing.assert_close(loss_fn.cost_matrix(features, etf), first)
    with torch.no_grad():
        etf.copy_(-etf)  # same storage, new version: the cache must not serve the old columns
    torch.testing.assert_close(loss_fn.cost_matrix(features, etf), 2.0 - first)
