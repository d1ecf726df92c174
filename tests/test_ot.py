"""`ltnc_hf.ot.sinkhorn` against POT's log-domain solver, and its contract (marginals, dtype, errors, autograd)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltnc_hf.ot import SinkhornInfo, sinkhorn

ot = pytest.importorskip("ot")

EPSILONS = (1.0, 0.1, 0.05, 0.01)


def _cosine_cost(n: int, m: int, dim: int = 16, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    h = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=dtype), dim=1)
    p = torch.nn.functional.normalize(torch.randn(m, dim, generator=g, dtype=dtype), dim=1)
    return 1.0 - h @ p.T


@pytest.mark.parametrize("epsilon", EPSILONS)
def test_plan_matches_pot_log_domain(epsilon):
    cost = _cosine_cost(48, 10)
    plan, info = sinkhorn(cost, epsilon, max_iter=20000, tol=1e-12, return_info=True)
    assert info.converged
    n, m = cost.shape
    reference = ot.sinkhorn(
        np.full(n, 1 / n),
        np.full(m, 1 / m),
        cost.numpy(),
        epsilon,
        method="sinkhorn_log",
        stopThr=1e-14,
        numItermax=20000,
    )
    assert plan.dtype == torch.float64
    np.testing.assert_allclose(plan.numpy(), reference, rtol=0, atol=1e-9)
    assert float(np.abs(plan.numpy() - reference).max()) < 1e-6


@pytest.mark.parametrize("epsilon", (1.0, 0.05))
def test_non_uniform_marginals_match_pot(epsilon):
    cost = _cosine_cost(20, 7, seed=3)
    g = np.random.default_rng(0)
    a, b = g.random(20) + 0.1, g.random(7) + 0.1
    a, b = a / a.sum(), b / b.sum()
    plan = sinkhorn(cost, epsilon, a=torch.from_numpy(a), b=torch.from_numpy(b), max_iter=20000, tol=1e-12)
    reference = ot.sinkhorn(a, b, cost.numpy(), epsilon, method="sinkhorn_log", stopThr=1e-14, numItermax=20000)
    np.testing.assert_allclose(plan.numpy(), reference, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", (torch.float64, torch.float32))
@pytest.mark.parametrize("epsilon", EPSILONS)
def test_default_settings_converge_to_tol_in_marginals(epsilon, dtype):
    """Defaults (tol=1e-6, max_iter=1000) reach the tolerance for epsilon down to 0.01, in float32 too."""
    cost = _cosine_cost(128, 100, dim=32, seed=1, dtype=dtype)
    plan, info = sinkhorn(cost, epsilon, return_info=True)
    assert plan.dtype == dtype and bool(torch.isfinite(plan).all()) and bool((plan >= 0).all())
    assert info.converged and info.error <= 1e-6
    assert info.n_iter % 10 == 0  # stopped at a convergence check
    rows, cols = plan.double().sum(1), plan.double().sum(0)
    assert float((rows - 1 / 128).abs().sum()) <= 1e-6 + 1e-6 * (dtype == torch.float32)
    assert float((cols - 1 / 100).abs().sum()) <= 1e-6


def test_small_epsilon_float32_stays_finite_where_a_kernel_underflows():
    cost = _cosine_cost(64, 10, seed=2, dtype=torch.float32) * 2.0  # costs up to ~4: exp(-4 / 0.01) == 0 in float32
    assert float(torch.exp(-cost / 0.01).min()) == 0.0
    plan, info = sinkhorn(cost, 0.01, return_info=True)
    assert bool(torch.isfinite(plan).all()) and info.converged
    assert abs(float(plan.sum()) - 1.0) < 1e-5


def test_half_precision_cost_returns_half_plan():
    cost = _cosine_cost(16, 4, dtype=torch.float32).half()
    plan = sinkhorn(cost, 0.1)
    assert plan.dtype == torch.float16
    reference = sinkhorn(cost.float(), 0.1)
    torch.testing.assert_close(plan.float(), reference, atol=1e-4, rtol=1e-2)


def test_not_converged_returns_plan_and_reports_error():
    cost = _cosine_cost(128, 100, dim=32, seed=4)
    plan, info = sinkhorn(cost, 0.01, max_iter=7, check_every=5, return_info=True)
    assert isinstance(info, SinkhornInfo)
    assert info.n_iter == 7 and not info.converged and info.error > 1e-6
    assert bool(torch.isfinite(plan).all())
    # the column marginal is exact after each iteration; the reported error is the row one
    torch.testing.assert_close(plan.sum(0), torch.full((100,), 0.01, dtype=torch.float64))
    assert info.error == pytest.approx(float((plan.sum(1) - 1 / 128).abs().sum()), rel=1e-9)
    # without return_info the same plan comes back alone
    torch.testing.assert_close(sinkhorn(cost, 0.01, max_iter=7, check_every=5), plan)


def test_identical_and_constant_costs_give_uniform_plan():
    plan = sinkhorn(torch.ones(6, 3, dtype=torch.float64), 0.01)
    torch.testing.assert_close(plan, torch.full((6, 3), 1 / 18, dtype=torch.float64))


def test_unrolled_gradient_matches_finite_differences():
    cost = _cosine_cost(5, 3, seed=5).requires_grad_(True)
    fn = lambda c: (sinkhorn(c, 0.5, tol=0.0, max_iter=30) * c).sum()  # noqa: E731 - fixed iteration count
    assert torch.autograd.gradcheck(fn, (cost,), eps=1e-6, atol=1e-6)


def test_unrolled_gradient_of_entropic_cost_is_the_plan():
    """Danskin: d/dC [<T*, C> + eps * sum T* log T*] = T* at convergence; the unrolled iterations reproduce it."""
    cost = _cosine_cost(12, 4, seed=6).requires_grad_(True)
    eps = 0.2
    plan = sinkhorn(cost, eps, tol=1e-13, max_iter=5000)
    value = (plan * cost).sum() + eps * (plan * plan.log()).sum()
    (grad,) = torch.autograd.grad(value, cost)
    torch.testing.assert_close(grad, plan.detach(), atol=1e-9, rtol=0)


@pytest.mark.parametrize("bad", (float("nan"), float("inf"), -float("inf")))
def test_non_finite_cost_raises(bad):
    cost = torch.zeros(3, 2)
    cost[1, 1] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        sinkhorn(cost)


@pytest.mark.parametrize("epsilon", (0.0, -1.0, float("nan"), float("inf")))
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn(torch.zeros(3, 2), epsilon)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"a": torch.full((4,), 0.25)}, "length 3"),
        ({"b": torch.tensor([0.7, -0.2, 0.5])[:2]}, "non-negative"),
        ({"a": torch.full((3,), 1 / 3), "b": torch.tensor([0.2, 0.2])}, "same positive mass"),
        ({"b": torch.ones(2, 1)}, "1-D"),
        ({"max_iter": 0}, "max_iter"),
        ({"check_every": 0}, "check_every"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_marginals_and_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sinkhorn(torch.zeros(3, 2), **kwargs)


@pytest.mark.parametrize("cost", (torch.zeros(3), torch.zeros(0, 2), torch.zeros(3, 2, dtype=torch.long)))
def test_bad_cost_shape_or_dtype_raises(cost):
    with pytest.raises(ValueError, match="cost"):
        sinkhorn(cost)
