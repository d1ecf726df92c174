"""Neural-collapse statistics of last-layer features (Papyan, Han & Donoho, PNAS 2020; DisA §3.2; SpA).

Definitions (DisA, Gao et al., ICML 2024, §3.2), over the K' classes present in `labels`:

- μ_k = mean feature of class k; μ_G = (1/K') Σ_k μ_k, the mean of the class means (not the sample mean, which
  under class imbalance is pulled towards the head classes);
- Σ_W = (1/K') Σ_k (1/n_k) Σ_{i: y_i = k} (h_i − μ_k)(h_i − μ_k)ᵀ, Σ_B = (1/K') Σ_k (μ_k − μ_G)(μ_k − μ_G)ᵀ and
  Σ_T = (1/K') Σ_k (1/n_k) Σ_{i: y_i = k} (h_i − μ_G)(h_i − μ_G)ᵀ = Σ_W + Σ_B (DisA Fig. 3 plots their traces);
- NC1 = tr(Σ_W Σ_B⁺) / K';
- NC2 equinorm = std / mean of ‖μ_k − μ_G‖ (population std); NC2 equiangularity = mean over k ≠ k' of
  |cos(μ_k − μ_G, μ_k' − μ_G) + 1/(K'−1)|;
- NC3 = ‖W / ‖W‖_F − M̃ / ‖M̃‖_F‖_F with the rows of M̃ the centred class means μ_k − μ_G;
- NC4 = fraction of samples whose classifier decision differs from the nearest class mean;
- SpA alignment = mean_k cos(w_k, μ_k − μ_G) (Wang, Gao & Xie, AAAI 2026, Fig. 1a, 4).

Computation. Everything runs in float64 on the features' device (or `device=`), in row chunks so that the float64
copy of a large float32 feature matrix is never materialised. Σ_W is never formed:
tr(Σ_W Σ_B⁺) = Σ_j u_jᵀ Σ_W u_j / λ_j over the eigenpairs (λ_j, u_j) of Σ_B, and u_jᵀ Σ_W u_j is a weighted sum of
squares of the centred features projected on u_j. The eigenpairs come from the smaller of Σ_B (d × d) and the Gram
matrix of the centred means (K' × K'); in the second case the projections are taken in the coordinates
(h − μ_G) M̃ᵀ that the nearest-class-mean rule (NC4) computes anyway. As in Papyan et al.'s reference code the
pseudo-inverse keeps the top min(K'−1, d) eigenvalues (the centred means span at most K'−1 directions), and of those
only the ones above `max(d, K') · eps · λ_max` (numpy's `pinv` tolerance). The cost is O(N·d·K' + N·min(d, K')·r)
with r = min(K'−1, d), instead of the O(N·d²) of forming Σ_W.

Classes absent from `labels` are excluded from every statistic (means, K', the classifier rows used by NC3 / SpA);
per-class outputs keep all `num_classes` entries and hold NaN for them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._utils import to_numpy

# float64 elements per chunk (128 MiB)
_CHUNK_ELEMENTS = 1 << 24


def _as_tensor(x: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"`{name}` must be a numeric array or tensor, got an object array.")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    return t if device is None else t.to(device)


def _row_chunks(num_rows: int, width: int):
    step = max(256, _CHUNK_ELEMENTS // max(width, 1))
    for start in range(0, num_rows, step):
        yield slice(start, min(start + step, num_rows))


def _between_class_whitener(centred_means: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Whitens the between-class subspace: returns `(B, in_mean_coordinates)` with `Σ_B⁺ = B Bᵀ` (kept eigenpairs).

    When `dim <= K'`, `B = U Λ^{-1/2}` of shape `(dim, r)` from `eigh(Σ_B)` and acts on features. Otherwise the
    eigenpairs come from the Gram matrix `G = M̃ M̃ᵀ / K'` (K' x K'): `u_j = M̃ᵀ v_j / sqrt(K' λ_j)`, so
    `x · u_j / sqrt(λ_j) = (M̃ x) · v_j / (sqrt(K') λ_j)` and `B = V Λ^{-1} / sqrt(K')` of shape `(K', r)` acts on the
    coordinates `M̃ x` (`in_mean_coordinates=True`).
    """
    num_present, dim = centred_means.shape
    eps = torch.finfo(torch.float64).eps
    rank_bound = min(num_present - 1, dim)
    in_mean_coordinates = dim > num_present
    if in_mean_coordinates:
        matrix = centred_means @ centred_means.T / num_present
    else:
        matrix = centred_means.T @ centred_means / num_present
    evals, evecs = torch.linalg.eigh(matrix)
    evals, evecs = evals.flip(0)[:rank_bound], evecs.flip(1)[:, :rank_bound]
    keep = evals > max(dim, num_present) * eps * evals[0].clamp_min(0)
    evals, evecs = evals[keep], evecs[:, keep]
    if in_mean_coordinates:
        return evecs / (math.sqrt(num_present) * evals), True
    return evecs / evals.sqrt(), False


def _equiangularity(unit_rows: torch.Tensor) -> float:
    num = unit_rows.shape[0]
    cos = unit_rows @ unit_rows.T
    off_diagonal = ~torch.eye(num, dtype=torch.bool, device=cos.device)
    return (cos[off_diagonal] + 1.0 / (num - 1)).abs().mean().item()


def _equinorm(norms: torch.Tensor) -> float:
    return (norms.std(correction=0) / norms.mean()).item()


def neural_collapse_metrics(
    features: Any,
    labels: Any,
    *,
    weight: Any = None,
    bias: Any = None,
    logits: Any = None,
    num_classes: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Neural-collapse statistics NC1–NC4, covariance traces and feature–classifier alignment, in float64.

    Args:
        features (`torch.Tensor` or `np.ndarray` of shape `(num_samples, dim)`):
            Last-layer features, exactly what the classifier sees.
        labels (`torch.Tensor` or `np.ndarray` of shape `(num_samples,)`):
            Class ids in `[0, num_classes)`.
        weight (`torch.Tensor` or `np.ndarray` of shape `(num_classes, dim)`, *optional*):
            Classifier weight (for a fixed ETF head, the ETF transposed). Enables `nc3`, `spa_cosine*`, `w_m_cosine`,
            `nc2_w_*` and (with `bias`) `nc4`.
        bias (`torch.Tensor` or `np.ndarray` of shape `(num_classes,)`, *optional*):
            Classifier bias, used for the classifier decision of NC4 when `logits` is not given.
        logits (`torch.Tensor` or `np.ndarray` of shape `(num_samples, num_classes)`, *optional*):
            The model's logits. When given, NC4 compares their argmax (the model's actual decision, right for cosine
            or scaled heads too) with the nearest class mean; otherwise it uses `features @ weight.T + bias`.
        num_classes (`int`, *optional*):
            Number of classes; defaults to the rows of `weight`, the columns of `logits`, or `labels.max() + 1`.
        device (`str` or `torch.device`, *optional*):
            Where to compute; defaults to the device of `features` (CPU for NumPy input).

    Returns:
        `dict` with Python floats `nc1`, `nc2_equinorm`, `nc2_equiangular`, `trace_within`, `trace_between`,
        `trace_total`, `ncc_accuracy` (nearest-class-mean accuracy) and `num_classes`, `num_classes_present` (`int`);
        NumPy float64 arrays `class_mean_cosines` `(num_classes, num_classes)` (cosines of the centred class means),
        `class_mean_norms` `(num_classes,)` (‖μ_k − μ_G‖). With `weight`: floats `nc3`, `w_m_cosine`
        (⟨W, M̃⟩_F / (‖W‖_F ‖M̃‖_F), so `nc3² = 2 − 2·w_m_cosine`), `spa_cosine`, `nc2_w_equinorm`,
        `nc2_w_equiangular` and the array `spa_cosine_per_class` `(num_classes,)`. With `weight` or `logits`: `nc4`.
        Entries of absent classes are NaN; `nc1` is NaN when all class means coincide (Σ_B = 0).
    """
    h = _as_tensor(features, "features")
    compute_device = torch.device(device) if device is not None else h.device
    h = h.to(compute_device)
    if h.ndim != 2:
        raise ValueError(f"`features` must have shape (num_samples, dim), got shape {tuple(h.shape)}.")
    if not (h.is_floating_point() or h.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"`features` must be real numbers, got dtype {h.dtype}.")
    y = _as_tensor(labels, "labels", compute_device)
    if y.ndim != 1 or y.shape[0] != h.shape[0]:
        raise ValueError(
            f"`labels` must have shape ({h.shape[0]},) to match `features` {tuple(h.shape)}, got {tuple(y.shape)}."
        )
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise TypeError("`labels` must hold integer class ids.")
    y = y.long()
    num_samples, dim = h.shape

    w = None if weight is None else _as_tensor(weight, "weight", compute_device).to(torch.float64)
    lg = None if logits is None else _as_tensor(logits, "logits", compute_device)
    if num_classes is None:
        if w is not None:
            num_classes = w.shape[0]
        elif lg is not None and lg.ndim == 2:
            num_classes = lg.shape[1]
        else:
            num_classes = int(y.max().item()) + 1 if num_samples else 0
    if num_samples == 0 or y.min().item() < 0 or y.max().item() >= num_classes:
        raise ValueError(
            f"`labels` must be non-empty class ids in [0, {num_classes}), got "
            f"{'no samples' if num_samples == 0 else f'values in [{y.min().item()}, {y.max().item()}]'}; "
            "pass `num_classes` (or `weight`) covering every label."
        )
    if w is not None and tuple(w.shape) != (num_classes, dim):
        raise ValueError(
            f"`weight` must have shape (num_classes, dim) = ({num_classes}, {dim}), got {tuple(w.shape)}; pass the "
            "classifier as rows (for a (dim, num_classes) ETF pass its transpose)."
        )
    b = None if bias is None else _as_tensor(bias, "bias", compute_device).to(torch.float64)
    if b is not None and tuple(b.shape) != (num_classes,):
        raise ValueError(f"`bias` must have shape ({num_classes},), got {tuple(b.shape)}.")
    if lg is not None and tuple(lg.shape) != (num_samples, num_classes):
        raise ValueError(f"`logits` must have shape ({num_samples}, {num_classes}), got {tuple(lg.shape)}.")

    # pass 1: class sums and counts
    counts = torch.bincount(y, minlength=num_classes)
    sums = torch.zeros(num_classes, dim, dtype=torch.float64, device=compute_device)
    for rows in _row_chunks(num_samples, dim):
        sums.index_add_(0, y[rows], h[rows].to(torch.float64))
    present = counts > 0
    num_present = int(present.sum().item())
    if num_present < 2:
        raise ValueError(
            f"Neural-collapse statistics need samples of at least 2 classes, got {num_present}; evaluate on more data."
        )
    present_idx = present.nonzero().squeeze(1)
    counts64 = counts.to(torch.float64)
    means = sums / counts64.clamp_min(1).unsqueeze(1)  # rows of absent classes stay 0 and are never used
    global_mean = means[present_idx].mean(dim=0)
    centred = means[present_idx] - global_mean  # M̃, (K', d)
    whitener, in_mean_coordinates = _between_class_whitener(centred)
    trace_between = (centred.square().sum() / num_present).item()
    # position of each class among the present ones (only read for present classes)
    position = torch.cumsum(present.long(), dim=0) - 1
    centred_gram = centred @ centred.T  # M̃ M̃ᵀ, (K', K')
    centred_sq_norms = centred_gram.diagonal()
    sample_weight = 1.0 / (num_present * counts64)  # 1 / (K' n_k), indexed by class

    trace_within = torch.zeros((), dtype=torch.float64, device=compute_device)
    trace_total = torch.zeros_like(trace_within)
    nc1_sum = torch.zeros_like(trace_within)
    ncc_correct = torch.zeros((), dtype=torch.int64, device=compute_device)
    disagree = torch.zeros_like(ncc_correct)
    has_decision = w is not None or lg is not None
    for rows in _row_chunks(num_samples, max(dim, num_classes)):
        h_rows = h[rows].to(torch.float64)
        y_rows = y[rows]
        sw = sample_weight[y_rows]
        g = h_rows - global_mean  # features relative to μ_G
        centred_rows = g - centred[position[y_rows]]  # h_i − μ_{y_i}
        trace_within += (sw * torch.linalg.vector_norm(centred_rows, dim=1).square()).sum()
        trace_total += (sw * torch.linalg.vector_norm(g, dim=1).square()).sum()
        # (h − μ_G) M̃ᵀ serves the nearest class mean (argmin ‖M̃_k‖² − 2 (h − μ_G)·M̃_k) and, in mean
        # coordinates, the NC1 projection: (h − μ_{y}) M̃ᵀ = (h − μ_G) M̃ᵀ − M̃_{y} M̃ᵀ
        scores = g @ centred.T
        nearest = present_idx[(centred_sq_norms - 2.0 * scores).argmin(dim=1)]
        ncc_correct += (nearest == y_rows).sum()
        if whitener.shape[1]:
            if in_mean_coordinates:
                projected = (scores - centred_gram[position[y_rows]]) @ whitener
            else:
                projected = centred_rows @ whitener
            nc1_sum += (sw * torch.linalg.vector_norm(projected, dim=1).square()).sum()
        if has_decision:
            if lg is not None:
                decision = lg[rows].argmax(dim=1)
            else:
                logits_rows = h_rows @ w.T
                if b is not None:
                    logits_rows = logits_rows + b
                decision = logits_rows.argmax(dim=1)
            disagree += (decision != nearest).sum()

    norms = centred.norm(dim=1)
    unit = centred / norms.clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(1)
    cosines = torch.full((num_classes, num_classes), float("nan"), dtype=torch.float64, device=compute_device)
    cosines[present_idx.unsqueeze(1), present_idx.unsqueeze(0)] = unit @ unit.T
    class_norms = torch.full((num_classes,), float("nan"), dtype=torch.float64, device=compute_device)
    class_norms[present_idx] = norms

    result: dict[str, Any] = {
        "nc1": (nc1_sum / num_present).item() if trace_between > 0 else float("nan"),
        "nc2_equinorm": _equinorm(norms),
        "nc2_equiangular": _equiangularity(unit),
        "trace_within": trace_within.item(),
        "trace_between": trace_between,
        "trace_total": trace_total.item(),
        "ncc_accuracy": ncc_correct.item() / num_samples,
        "num_classes": int(num_classes),
        "num_classes_present": num_present,
        "class_mean_cosines": to_numpy(cosines),
        "class_mean_norms": to_numpy(class_norms),
    }
    if has_decision:
        result["nc4"] = disagree.item() / num_samples
    if w is not None:
        w_present = w[present_idx]
        w_norm, m_norm = w_present.norm(), centred.norm()
        result["nc3"] = (w_present / w_norm - centred / m_norm).norm().item()
        result["w_m_cosine"] = ((w_present * centred).sum() / (w_norm * m_norm)).item()
        row_norms = w_present.norm(dim=1)
        tiny = torch.finfo(torch.float64).tiny
        per_class = (w_present * centred).sum(dim=1) / (row_norms * norms).clamp_min(tiny)
        spa = torch.full((num_classes,), float("nan"), dtype=torch.float64, device=compute_device)
        spa[present_idx] = per_class
        result["spa_cosine"] = per_class.mean().item()
        result["spa_cosine_per_class"] = to_numpy(spa)
        result["nc2_w_equinorm"] = _equinorm(row_norms)
        result["nc2_w_equiangular"] = _equiangularity(w_present / row_norms.clamp_min(tiny).unsqueeze(1))
    return result
