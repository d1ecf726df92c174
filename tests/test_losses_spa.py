"""SpA: class-mean tracker (EMA / epoch, distributed, checkpoints), SpA-Reg, SpA-SLERP and SpA-Proj."""

from __future__ import annotations

import math
import os
import tempfile
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ltnc_hf.losses import ClassMeanTracker, spa_project_grad_, spa_reg_loss, spa_slerp_, spa_slerp_alpha

K, D = 5, 6


def _batches(num, batch=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        labels = torch.randint(0, K - 1, (batch,), generator=g)  # class K-1 never appears
        out.append((torch.randn(batch, D, generator=g, dtype=torch.float64) + labels.unsqueeze(1), labels))
    return out


# ----------------------------------------------------------------------------------------------------- tracker
def test_ema_tracker_matches_numpy_bias_corrected_ema():
    momentum = 0.8
    tracker = ClassMeanTracker(K, D, momentum=momentum)
    raw, steps = np.zeros((K, D)), np.zeros(K)
    for features, labels in _batches(6):
        tracker.update(features, labels)
        f, y = features.numpy(), labels.numpy()
        for c in np.unique(y):
            steps[c] += 1
            raw[c] = momentum * raw[c] + (1 - momentum) * f[y == c].mean(axis=0)
    expected = np.where(steps[:, None] > 0, raw / (1 - momentum ** np.maximum(steps, 1))[:, None], 0.0)
    np.testing.assert_allclose(tracker.means.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert tracker.seen.tolist() == [True] * (K - 1) + [False]
    assert tracker.num_updates.tolist() == steps.astype(int).tolist()


def test_first_sight_sets_the_batch_mean_and_absent_classes_keep_theirs():
    tracker = ClassMeanTracker(K, D, momentum=0.9)
    features = torch.arange(3 * D, dtype=torch.float32).reshape(3, D)
    tracker.update(features, torch.tensor([0, 0, 2]))
    torch.testing.assert_close(tracker.means[0], features[:2].mean(0))
    torch.testing.assert_close(tracker.means[2], features[2])
    before = tracker.means.clone()
    tracker.update(torch.ones(2, D), torch.tensor([1, 1]))
    torch.testing.assert_close(tracker.means[[0, 2, 3, 4]], before[[0, 2, 3, 4]])
    torch.testing.assert_close(tracker.means[1], torch.ones(D))


def test_epoch_accumulation_is_the_exact_mean_and_reset_starts_a_new_window():
    tracker = ClassMeanTracker(K, D, momentum=None)
    batches = _batches(5, seed=1)
    for features, labels in batches:
        tracker.update(features, labels)
    feats = torch.cat([f for f, _ in batches]).numpy()
    labels = torch.cat([y for _, y in batches]).numpy()
    for c in range(K - 1):
        np.testing.assert_allclose(tracker.means[c].numpy(), feats[labels == c].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert tracker.counts.tolist() == np.bincount(labels, minlength=K).tolist()
    old = tracker.means.clone()
    tracker.reset()
    assert tracker.counts.sum() == 0 and bool(tracker.seen[: K - 1].all())
    torch.testing.assert_close(tracker.means, old)  # kept until the class is seen again
    tracker.update(torch.full((1, D), 7.0), torch.tensor([3]))
    torch.testing.assert_close(tracker.means[3], torch.full((D,), 7.0))
    torch.testing.assert_close(tracker.means[:3], old[:3])


def test_centered_means_use_the_mean_of_seen_class_means():
    tracker = ClassMeanTracker(K, D)
    features, labels = _batches(1, batch=40, seed=2)[0]
    tracker.update(features, labels)
    seen = tracker.seen
    mu_g = tracker.means[seen].mean(0)
    centred = tracker.centered_means()
    torch.testing.assert_close(centred[seen], tracker.means[seen] - mu_g)
    assert float(centred[~seen].abs().sum()) == 0.0


def test_state_dict_round_trip():
    tracker = ClassMeanTracker(K, D, momentum=0.7)
    for features, labels in _batches(3, seed=3):
        tracker.update(features, labels)
    state = tracker.state_dict()
    assert set(state) == {"means", "counts", "num_updates", "seen"}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tracker.pt")
        torch.save(state, path)
        restored = ClassMeanTracker(K, D, momentum=0.7)
        restored.load_state_dict(torch.load(path))
    for name in state:
        assert torch.equal(getattr(restored, name), getattr(tracker, name))
    features, labels = _batches(1, seed=4)[0]
    tracker.update(features, labels)
    restored.update(features, labels)
    torch.testing.assert_close(restored.means, tracker.means)


def test_tracker_bad_input():
    with pytest.raises(ValueError, match="momentum"):
        ClassMeanTracker(K, D, momentum=1.0)
    tracker = ClassMeanTracker(K, D)
    with pytest.raises(ValueError, match=r"shape \(batch, 6\)"):
        tracker.update(torch.zeros(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"class ids in \[0, 5\)"):
        tracker.update(torch.zeros(2, D), torch.tensor([0, 5]))


def _distributed_worker(rank, world_size, init_file, result_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        tracker = ClassMeanTracker(K, D, momentum=0.5)
        for features, labels in _batches(4, seed=10):
            half = features.shape[0] // 2
            sl = slice(rank * half, (rank + 1) * half)
            tracker.update(features[sl], labels[sl])
        gathered = [torch.zeros(K, D) for _ in range(world_size)]
        dist.all_gather(gathered, tracker.means)
        if rank == 0:
            torch.save({"world_size": dist.get_world_size(), "means": gathered}, result_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.distributed
def test_distributed_update_gives_every_rank_the_global_means():
    with tempfile.TemporaryDirectory() as tmp:
        init_file, result_file = os.path.join(tmp, "init"), os.path.join(tmp, "result.pt")
        # fork: the workers inherit the imported modules instead of re-importing the package (seconds each)
        context = mp.start_processes(
            _distributed_worker, args=(2, init_file, result_file), nprocs=2, join=False, start_method="fork"
        )
        deadline = time.monotonic() + 120
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.terminate()
                pytest.fail("the two-process all-reduce did not finish within 120 s")
        result = torch.load(result_file)
    assert result["world_size"] == 2
    rank0, rank1 = result["means"]
    assert torch.equal(rank0, rank1)
    single = ClassMeanTracker(K, D, momentum=0.5)
    for features, labels in _batches(4, seed=10):
        single.update(features, labels)  # the whole global batch in one process
    torch.testing.assert_close(rank0, single.means, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------------- SpA-Reg
def _pair(seed=0, k=K, d=D):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, d, generator=g, dtype=torch.float64), torch.randn(k, d, generator=g, dtype=torch.float64)


def test_reg_loss_matches_numpy_and_passes_gradients_to_weight_and_means():
    weight, means = _pair()
    w = weight.clone().requires_grad_(True)
    mu = means.clone().requires_grad_(True)
    loss = spa_reg_loss(w, mu)
    wn, mn = weight.numpy(), means.numpy()
    cos = (wn * mn).sum(1) / (np.linalg.norm(wn, axis=1) * np.linalg.norm(mn, axis=1))
    assert float(loss.detach()) == pytest.approx(float(np.mean(1 - cos)), rel=1e-6)
    mask = torch.tensor([True, False, True, True, False])
    assert float(spa_reg_loss(w, mu, mask=mask).detach()) == pytest.approx(
        float(np.mean(1 - cos[mask.numpy()])), rel=1e-6
    )
    loss.backward()
    assert bool(torch.isfinite(w.grad).all())
    # d(1 - cos)/d(mu) = -(w_hat - cos * mu_hat) / |mu| / K, the mirror image of the weight's gradient
    w_hat = wn / np.linalg.norm(wn, axis=1, keepdims=True)
    mu_hat = mn / np.linalg.norm(mn, axis=1, keepdims=True)
    expected = -(w_hat - cos[:, None] * mu_hat) / np.linalg.norm(mn, axis=1, keepdims=True) / len(cos)
    assert np.allclose(mu.grad.numpy(), expected, atol=1e-6)
    # a gradient step raises every cosine
    with torch.no_grad():
        after = torch.nn.functional.cosine_similarity(w - 0.5 * w.grad, means, dim=1).numpy()
    assert bool((after > cos).all())


def test_reg_loss_with_unseen_zero_means_is_finite():
    weight, means = _pair()
    means[2] = 0.0
    w = weight.clone().requires_grad_(True)
    spa_reg_loss(w, means).backward()
    assert bool(torch.isfinite(w.grad).all()) and float(w.grad[2].abs().sum()) == 0.0


# ----------------------------------------------------------------------------------------------------- SpA-SLERP
def _angles(a, b):
    return torch.acos(torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1, 1))


@pytest.mark.parametrize("alpha", (0.0, 0.25, 0.6, 1.0))
def test_slerp_keeps_norms_and_scales_the_angle_by_one_minus_alpha(alpha):
    weight, means = _pair(seed=1)
    weight = weight * torch.linspace(0.5, 3.0, K, dtype=torch.float64).unsqueeze(1)
    before, norms = _angles(weight, means), weight.norm(dim=1)
    updated = spa_slerp_(weight, means, alpha=alpha, tau=1.0)
    assert updated.all()
    torch.testing.assert_close(weight.norm(dim=1), norms)
    torch.testing.assert_close(_angles(weight, means), (1 - alpha) * before, atol=1e-7, rtol=0)


def test_slerp_stays_on_the_plane_of_weight_and_mean():
    weight, means = _pair(seed=2)
    w0 = weight.clone()
    spa_slerp_(weight, means, alpha=0.3, tau=1.0)
    for c in range(K):
        basis, _ = torch.linalg.qr(torch.stack([w0[c], means[c]], dim=1))
        residual = weight[c] - basis @ (basis.T @ weight[c])
        assert float(residual.norm()) < 1e-9


def test_slerp_threshold_mask_and_parameter_in_place():
    weight, means = _pair(seed=3)
    cos = torch.nn.functional.cosine_similarity(weight, means, dim=1)
    tau = float(cos.median())
    mask = torch.tensor([True, True, True, True, False])
    param = torch.nn.Parameter(weight.clone())
    updated = spa_slerp_(param, means, alpha=0.5, tau=tau, mask=mask)
    expected = (cos < tau) & mask
    assert updated.tolist() == expected.tolist()
    torch.testing.assert_close(param.data[~expected], weight[~expected])
    assert bool((param.data[expected] != weight[expected]).any(dim=1).all())


def test_slerp_degenerate_angles():
    weight = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    means = torch.tensor([[-1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0 + 1e-9, 0.0]])
    means = means.double()
    original = weight.clone()
    updated = spa_slerp_(weight, means, alpha=0.5, tau=1.0)
    assert bool(torch.isfinite(weight).all())
    torch.testing.assert_close(weight.norm(dim=1), original.norm(dim=1))
    # theta = pi: rotated half-way along a great circle, to a right angle
    assert updated[0] and float(_angles(weight[:1], means[:1])) == pytest.approx(math.pi / 2, abs=1e-9)
    # theta = 0, zero mean, theta ~ 1e-9: left alone
    assert updated[1:].tolist() == [False, False, False]
    torch.testing.assert_close(weight[1:], original[1:])


def test_slerp_alpha_schedule():
    assert spa_slerp_alpha(0, 200, 0.4) == 0.0
    assert spa_slerp_alpha(100, 200, 0.4) == pytest.approx(0.2)
    assert spa_slerp_alpha(200, 200, 0.4) == pytest.approx(0.4)
    values = [spa_slerp_alpha(t, 10, 1.0) for t in range(11)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="epoch"):
        spa_slerp_alpha(11, 10, 0.5)
    with pytest.raises(ValueError, match="alpha_max"):
        spa_slerp_alpha(1, 10, 1.5)


# ------------------------------------------------------------------------------------------------------ SpA-Proj
def _proj_setup(seed=4):
    weight, means = _pair(seed)
    weight = torch.nn.Parameter(weight)
    weight.grad = torch.randn(K, D, generator=torch.Generator().manual_seed(seed + 100), dtype=torch.float64)
    w_hat = torch.nn.functional.normalize(weight.detach(), dim=1)
    mu_hat = torch.nn.functional.normalize(means, dim=1)
    d = mu_hat - (mu_hat * w_hat).sum(1, keepdim=True) * w_hat  # eq. 18, corrected
    d_hat = torch.nn.functional.normalize(d, dim=1)
    g = weight.grad.clone()
    g_rad = (g * w_hat).sum(1, keepdim=True) * w_hat
    p = ((g - g_rad) * d_hat).sum(1)
    return weight, means, g, g_rad, d_hat, p


def test_proj_removes_exactly_the_harmful_component():
    weight, means, g, g_rad, d_hat, p = _proj_setup()
    harmful = p > 0
    assert 0 < int(harmful.sum()) < K  # both cases present
    spa_project_grad_(weight, means, gamma=0.0)
    new = weight.grad
    g_tan_new = new - (new * torch.nn.functional.normalize(weight.detach(), dim=1)).sum(1, keepdim=True) * (
        torch.nn.functional.normalize(weight.detach(), dim=1)
    )
    p_new = (g_tan_new * d_hat).sum(1)
    assert bool((p_new <= 1e-12).all())
    torch.testing.assert_close(p_new[harmful], torch.zeros_like(p_new[harmful]), atol=1e-12, rtol=0)
    torch.testing.assert_close(new[~harmful], g[~harmful])  # untouched when p <= 0
    torch.testing.assert_close(g - new, p.clamp_min(0).unsqueeze(1) * d_hat)  # exactly p d^ removed
    # the radial part is kept whole, and d is in the tangent space (eq. 18 corrected)
    w_hat = torch.nn.functional.normalize(weight.detach(), dim=1)
    torch.testing.assert_close((new * w_hat).sum(1), (g * w_hat).sum(1))
    assert float((d_hat * w_hat).sum(1).abs().max()) < 1e-12


@pytest.mark.parametrize("gamma", (0.3, 1.0))
def test_proj_gamma_mixes_with_the_original_gradient(gamma):
    weight, means, g, _, d_hat, p = _proj_setup(seed=5)
    spa_project_grad_(weight, means, gamma=gamma)
    torch.testing.assert_close(weight.grad, g - (1 - gamma) * p.clamp_min(0).unsqueeze(1) * d_hat)


def test_proj_literal_eq20_drops_the_radial_part():
    weight, means, g, g_rad, d_hat, p = _proj_setup(seed=6)
    gamma = 0.25
    spa_project_grad_(weight, means, gamma=gamma, keep_radial=False)
    g_tan_safe = (g - g_rad) - p.clamp_min(0).unsqueeze(1) * d_hat
    torch.testing.assert_close(weight.grad, (1 - gamma) * g_tan_safe + gamma * g)


def test_proj_mask_zero_means_and_missing_grad():
    weight, means, g, _, _, _ = _proj_setup(seed=7)
    means[1] = 0.0
    mask = torch.tensor([True, True, True, False, True])
    spa_project_grad_(weight, means, gamma=0.0, mask=mask)
    torch.testing.assert_close(weight.grad[[1, 3]], g[[1, 3]])
    bare = torch.nn.Parameter(torch.randn(K, D))
    with pytest.raises(ValueError, match="weight.grad` is None"):
        spa_project_grad_(bare, torch.randn(K, D), gamma=0.5)
    with pytest.raises(ValueError, match="gamma"):
        spa_project_grad_(weight, means, gamma=1.5)
    with pytest.raises(ValueError, match=r"classifier weight's shape \(5, 6\)"):
        spa_project_grad_(weight, torch.randn(K, D + 1), gamma=0.5)


def test_spa_reg_cosine_backward_is_the_exact_gradient():
    from ltnc_hf.losses.spa import _RowCosine

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(5, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: _RowCosine.apply(x, y, 1e-8), (a, b))
    b = b.detach().clone()
    b[2] = 0.0  # an unseen class: zero mean, clamped norm (a kink, so compared with autograd, not finite differences)
    b.requires_grad_(True)

    # the same values and gradients as autograd's generic backward of the same expression
    def generic(x, y, eps=1e-8):
        norms = torch.linalg.vector_norm(x, dim=1).clamp_min(eps) * torch.linalg.vector_norm(y, dim=1).clamp_min(eps)
        return torch.linalg.vecdot(x, y) / norms

    weights = torch.arange(1.0, 6.0, dtype=torch.float64)
    ours = torch.autograd.grad((_RowCosine.apply(a, b, 1e-8) * weights).sum(), (a, b))
    theirs = torch.autograd.grad((generic(a, b) * weights).sum(), (a, b))
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)
