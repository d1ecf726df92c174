"""Entropic optimal transport (Sinkhorn) in the log domain.

Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013, solved with the log-domain
(log-sum-exp) iterations of Feydy et al., AISTATS 2019, so that it stays finite for small regularisation (a plain
``exp(-C / epsilon)`` kernel underflows to zero for ``epsilon`` around 0.01 and the scaling vectors become NaN).

Pure tensor maths: this module imports nothing else from the package.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["SinkhornInfo", "sinkhorn"]


class SinkhornInfo(NamedTuple):
    """What a [`sinkhorn`] call achieved.

    Attributes:
        n_iter (`int`): iterations run (one iteration updates both dual potentials).
        error (`float` or `torch.Tensor`): L1 violation of the row marginal, `sum_i |sum_j T_ij - a_i|`, of the
            returned plan (the column marginal is met to rounding error after every iteration). In the
            synchronisation-free mode (`tol=None`, or inside `torch.compile`) it is a 0-d tensor on the cost's
            device, so that reading it is left to the caller (e.g. at logging steps).
        converged (`bool` or `None`): whether `error <= tol`; `None` in the synchronisation-free mode.
    """

    n_iter: int
    error: float | torch.Tensor
    converged: bool | None


def _check_marginal(
    weights: torch.Tensor | None, size: int, name: str, like: torch.Tensor, check_values: bool = True
) -> torch.Tensor:
    if weights is None:
        return torch.full((size,), 1.0 / size, dtype=like.dtype, device=like.device)
    weights = torch.as_tensor(weights)
    if weights.ndim != 1 or weights.shape[0] != size:
        raise ValueError(
            f"`{name}` must be a 1-D tensor of length {size} matching the cost matrix, got shape "
            f"{tuple(weights.shape)}; pass one weight per {'row' if name == 'a' else 'column'} of `cost`."
        )
    weights = weights.to(device=like.device, dtype=like.dtype)
    if check_values and (not bool(torch.isfinite(weights).all()) or bool((weights < 0).any())):
        raise ValueError(f"`{name}` must be finite and non-negative, got {weights.tolist()[:8]}...")
    return weights


def sinkhorn(
    cost: torch.Tensor,
    epsilon: float = 1.0,
    *,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    max_iter: int = 1000,
    tol: float | None = 1e-6,
    check_every: int = 10,
    return_info: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, SinkhornInfo]:
    r"""Entropic optimal-transport plan between two discrete distributions, computed in the log domain.

    Solves `T* = argmin_{T in Pi(a, b)} <T, C> - epsilon * H(T)` with `H(T) = -sum_ij T_ij log T_ij` by alternating
    updates of the dual potentials `u, v` (in units of `epsilon`):

        u = log a - logsumexp_j(v_j - C_ij / epsilon),    v = log b - logsumexp_i(u_i - C_ij / epsilon),

    and returns `T_ij = exp(u_i + v_j - C_ij / epsilon)`. After each iteration the column marginal equals `b` to
    rounding error; convergence is measured on the row marginal, `sum_i |sum_j T_ij - a_i| <= tol` (L1), and checked
    only every `check_every` iterations so that the loop does not synchronise with the device at each step.

    The iterations run in `float64` whatever the dtype of `cost` (in `float32` on devices without `float64`, such as
    Apple's MPS): the potentials grow like `C / epsilon`, and in `float32` their rounding alone leaves a marginal error
    of about 1e-5 at `epsilon = 0.01`. At the sizes of a batch against the classes this costs next to nothing. The
    plan is returned in the dtype of `cost`. All operations are differentiable: calling it on a cost that requires
    grad back-propagates through the unrolled iterations.

    Synchronisation-free mode: with `tol=None` the loop runs exactly `max_iter` iterations and never reads a value
    back to the host (no convergence check, no finiteness check of `cost`: a NaN cost gives a NaN plan), so that it
    can be captured in a CUDA graph or overlap with the rest of a training step; the achieved error is returned as a
    0-d tensor. Inside `torch.compile` (`torch.compiler.is_compiling()`) this mode is used whatever `tol` says,
    because stopping on a measured error needs a host synchronisation, i.e. a graph break; the compiled loop is
    unrolled, so its compile time grows with `max_iter` (with cosine costs at `epsilon >= 0.1`, 10-20 iterations
    reached errors below 1e-6 in our measurements, more at smaller `epsilon`; see `return_info`).

    When the tolerance is not reached within `max_iter` iterations, the last plan is returned (it is still a valid
    coupling for the column marginal, and its row-marginal error is known): pass `return_info=True` to read the
    achieved error and decide; the DisA loss records it in `DisALoss.last_info`. For tight tolerances at small
    `epsilon`, raise `max_iter`: the number of iterations grows roughly like `1 / epsilon`.

    Args:
        cost (`torch.Tensor` of shape `(n, m)`):
            Cost matrix `C`. Must be finite.
        epsilon (`float`, *optional*, defaults to 1.0):
            Entropic regularisation, `> 0`. Smaller values give sharper plans and need more iterations.
        a (`torch.Tensor` of shape `(n,)`, *optional*):
            Row marginal (non-negative, summing to the same total as `b`). Defaults to uniform `1 / n`.
        b (`torch.Tensor` of shape `(m,)`, *optional*):
            Column marginal. Defaults to uniform `1 / m`.
        max_iter (`int`, *optional*, defaults to 1000):
            Maximum number of iterations.
        tol (`float` or `None`, *optional*, defaults to 1e-6):
            Stopping threshold on the L1 row-marginal error. `None`: run exactly `max_iter` iterations without any
            host synchronisation (see above).
        check_every (`int`, *optional*, defaults to 10):
            Check convergence every this many iterations (each check is one host synchronisation).
        return_info (`bool`, *optional*, defaults to `False`):
            Also return a [`SinkhornInfo`] with the iteration count, the achieved error and whether it converged.

    Returns:
        `torch.Tensor` of shape `(n, m)` (the plan, dtype of `cost`), or `(plan, SinkhornInfo)` when `return_info`.

    Raises:
        `ValueError`: `cost` is not a non-empty 2-D floating tensor, contains NaN/inf, `epsilon <= 0`, the marginals
            have the wrong shape, are negative or do not carry the same total mass, or `max_iter`, `tol`,
            `check_every` are out of range.

    Example:
        ```python
        >>> import torch
        >>> from ltnc_hf.ot import sinkhorn
        >>> plan = sinkhorn(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), epsilon=1.0)
        >>> plan.sum(dim=1)  # uniform row marginal
        tensor([0.5000, 0.5000])
        ```
    """
    if not isinstance(cost, torch.Tensor) or cost.ndim != 2 or cost.numel() == 0:
        shape = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost).__name__
        raise ValueError(f"`cost` must be a non-empty 2-D tensor of shape (n, m), got {shape}.")
    if not cost.is_floating_point():
        raise ValueError(
            f"`cost` must be a floating-point tensor, got dtype {cost.dtype}; convert it with `.float()`."
        )
    if (
        not isinstance(epsilon, (int, float))
        or isinstance(epsilon, bool)
        or not math.isfinite(epsilon)
        or epsilon <= 0
    ):
        raise ValueError(f"`epsilon` must be a finite number > 0, got {epsilon!r}; the papers use epsilon=1.0.")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"`max_iter` must be an integer >= 1, got {max_iter!r}.")
    if not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"`check_every` must be an integer >= 1, got {check_every!r}.")
    if tol is not None and not (isinstance(tol, (int, float)) and tol >= 0 and math.isfinite(tol)):
        raise ValueError(f"`tol` must be a finite number >= 0 or None (fixed iterations), got {tol!r}.")
    sync_free = tol is None or torch.compiler.is_compiling()
    if not sync_free and not bool(torch.isfinite(cost.detach()).all()):
        raise ValueError(
            "`cost` contains NaN or inf values; the features or prototypes it was computed from are not finite "
            "(check the model for a diverged step, e.g. lower the learning rate or enable gradient clipping)."
        )

    work_dtype = torch.float32 if cost.device.type == "mps" else torch.float64
    scaled = cost.to(work_dtype) / epsilon
    n, m = scaled.shape
    a_ = _check_marginal(a, n, "a", scaled, check_values=not sync_free)
    b_ = _check_marginal(b, m, "b", scaled, check_values=not sync_free)
    if not sync_free and (a is not None or b is not None):
        mass_a, mass_b = float(a_.sum()), float(b_.sum())
        if mass_a <= 0 or not math.isclose(mass_a, mass_b, rel_tol=1e-6, abs_tol=1e-12):
            raise ValueError(
                f"The marginals must carry the same positive mass, got sum(a)={mass_a:.8g} and sum(b)={mass_b:.8g}; "
                "normalise both to sum to 1."
            )
    log_a, log_b = a_.log(), b_.log()

    u = torch.zeros(n, dtype=work_dtype, device=scaled.device)
    v = torch.zeros(m, dtype=work_dtype, device=scaled.device)
    if sync_free:
        for _ in range(max_iter):
            u = log_a - torch.logsumexp(v.unsqueeze(0) - scaled, dim=1)
            v = log_b - torch.logsumexp(u.unsqueeze(1) - scaled, dim=0)
        log_plan = u.unsqueeze(1) + v.unsqueeze(0) - scaled
        plan = torch.exp(log_plan).to(cost.dtype)
        if return_info:
            with torch.no_grad():
                error_t = (torch.exp(log_plan.detach()).sum(dim=1) - a_).abs().sum()
            return plan, SinkhornInfo(n_iter=max_iter, error=error_t, converged=None)
        return plan

    error = float("inf")
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        u = log_a - torch.logsumexp(v.unsqueeze(0) - scaled, dim=1)
        v = log_b - torch.logsumexp(u.unsqueeze(1) - scaled, dim=0)
        if n_iter % check_every == 0 or n_iter == max_iter:
            with torch.no_grad():
                rows = torch.exp(u.unsqueeze(1) + v.unsqueeze(0) - scaled).sum(dim=1)
                error = float((rows - a_).abs().sum())  # the only host synchronisation, once per check
            if error <= tol:
                break

    plan = torch.exp(u.unsqueeze(1) + v.unsqueeze(0) - scaled).to(cost.dtype)
    if return_info:
        return plan, SinkhornInfo(n_iter=n_iter, error=error, converged=error <= tol)
    return plan
