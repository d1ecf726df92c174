"""DisA: distribution alignment between the batch features and a simplex ETF through optimal transport.

Gao et al., "Distribution Alignment Optimization through Neural Collapse for Long-tailed Classification",
ICML 2024, sec. 4.1: the batch features form the uniform empirical distribution `P = (1/B) sum_i delta_{h_i}` (eq. 6),
the ETF columns the balanced distribution `Q = (1/K) sum_k delta_{m_k}` (eq. 7); the loss is the transport cost
`<T*, C>` of the entropic plan `T*` between them (eqs. 8-9), with `C_ik = 1 - cos(h_i, m_k)` (squared Euclidean as
an option), added to the supervised loss with a weight `lambda` (eq. 10; 0.1 in the paper, epsilon = 1).

Where we differ, on purpose:

* `plan_grad="detach"` (default) reads eq. (9) literally: `T*` is solved first and held constant while `<T*, C>`
  is minimised over the network. The official code (JintongGao/DisA) back-propagates through the unrolled Sinkhorn
  iterations instead: `plan_grad="unroll"`. Both give the same loss value, with different gradients.
* The official code stops Sinkhorn when the change of the dual potential is below 0.1 (at most 200 iterations); we
  stop on the marginal error (`tol`, default 1e-6, see `ltnc_hf.ot.sinkhorn`), so the plan is the converged one.
* Zero-norm features are safe: the cosine cost normalises with a floor `eps` on the norm (a zero feature is at
  cosine distance 1 from every vertex).

`alignment_matrix` gives `A = L^T T` (sec. 4.3, Fig. 2): the plan mass moved from the samples of class `k` to ETF
vertex `k'`. Its row `k` sums to `n_k / B` (each sample carries `1/B`) and every column to `1/K`: a vertex receives
the same mass whatever the frequency of its class, so the plan gives each sample of a rare class more weight on its
vertex than a sample of a frequent class.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ot import SinkhornInfo, sinkhorn
from ._base import check_labels

__all__ = ["DISA_COSTS", "DISA_PLAN_GRADS", "DisALoss"]

DISA_COSTS = ("cosine", "sqeuclidean")
DISA_PLAN_GRADS = ("detach", "unroll")


class DisALoss(nn.Module):
    """Optimal-transport alignment loss between a batch of features and the columns of a simplex ETF.

    Args:
        epsilon (`float`, *optional*, defaults to 1.0):
            Entropic regularisation of the plan (`> 0`; the paper uses 1).
        cost (`str`, *optional*, defaults to `"cosine"`):
            `"cosine"`: `C_ik = 1 - cos(h_i, m_k)`; `"sqeuclidean"`: `C_ik = ||h_i - m_k||^2` on the raw features.
        plan_grad (`str`, *optional*, defaults to `"detach"`):
            `"detach"`: the plan is a constant for the gradient (paper eq. 9); `"unroll"`: gradients flow through
            the Sinkhorn iterations (official code).
        max_iter (`int`, *optional*, defaults to 200):
            Maximum Sinkhorn iterations.
        tol (`float` or `None`, *optional*, defaults to 1e-6):
            Sinkhorn stopping threshold on the L1 marginal error. `None`: exactly `max_iter` iterations and no host
            synchronisation anywhere in the loss (the mode `torch.compile` always uses, see
            [`~ltnc_hf.ot.sinkhorn`]); `last_info.error` is then a 0-d tensor.
        check_every (`int`, *optional*, defaults to 10):
            Sinkhorn convergence check period.
        eps (`float`, *optional*, defaults to 1e-8):
            Floor on the norms in the cosine cost.

    Attributes:
        last_plan (`torch.Tensor` of shape `(batch, num_classes)`): the (detached) plan of the last call.
        last_info ([`~ltnc_hf.ot.SinkhornInfo`]): iterations, marginal error and convergence of the last call.

    Example:
        ```python
        >>> import torch
        >>> from ltnc_hf.losses import DisALoss
        >>> etf = torch.linalg.qr(torch.randn(16, 4))[0]  # any (dim, num_classes) prototypes
        >>> loss = DisALoss()(torch.randn(8, 16), etf)
        ```
    """

    def __init__(
        self,
        epsilon: float = 1.0,
        *,
        cost: str = "cosine",
        plan_grad: str = "detach",
        max_iter: int = 200,
        tol: float | None = 1e-6,
        check_every: int = 10,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if cost not in DISA_COSTS:
            raise ValueError(f"Unknown DisA cost '{cost}', expected one of {DISA_COSTS}.")
        if plan_grad not in DISA_PLAN_GRADS:
            raise ValueError(f"Unknown DisA plan_grad '{plan_grad}', expected one of {DISA_PLAN_GRADS}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"DisA `epsilon` must be > 0, got {epsilon!r}; the paper uses epsilon=1.0.")
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"DisA `max_iter` must be an integer >= 1, got {max_iter!r}.")
        self.epsilon = float(epsilon)
        self.cost = cost
        self.plan_grad = plan_grad
        self.max_iter = max_iter
        if tol is not None and (
            isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (tol >= 0 and math.isfinite(tol))
        ):
            raise ValueError(
                f"DisA `tol` must be a number >= 0, or None for a fixed number of iterations, got {tol!r}."
            )
        self.tol = None if tol is None else float(tol)
        self.check_every = check_every
        self.eps = float(eps)
        self.last_plan: torch.Tensor | None = None
        self.last_info: SinkhornInfo | None = None
        self._etf_cache: tuple | None = None

    def cost_matrix(self, features: torch.Tensor, etf: torch.Tensor) -> torch.Tensor:
        """Cost between features `(batch, dim)` and ETF columns `(dim, num_classes)`, shape `(batch, num_classes)`."""
        self._check_inputs(features, etf)
        dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
        h = features.to(dtype)
        m = etf.to(device=h.device, dtype=dtype)
        # full precision even under mixed precision: the plan at small epsilon is sensitive to the cost's rounding
        with torch.autocast(device_type=h.device.type, enabled=False):
            if self.cost == "cosine":
                return 1.0 - F.normalize(h, dim=1, eps=self.eps) @ self._unit_columns(etf, m)
            sq = h.pow(2).sum(dim=1, keepdim=True) + m.pow(2).sum(dim=0, keepdim=True) - 2.0 * (h @ m)
            return sq.clamp_min(0.0)

    def _unit_columns(self, etf: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """L2-normalised ETF columns, cached while the same ETF tensor is passed unchanged (it is a fixed buffer)."""
        if m.requires_grad or torch.compiler.is_compiling():
            return F.normalize(m, dim=0, eps=self.eps)
        key = (etf.data_ptr(), etf._version, tuple(etf.shape), m.dtype, m.device)
        if self._etf_cache is None or self._etf_cache[0] != key:
            self._etf_cache = (key, F.normalize(m, dim=0, eps=self.eps))
        return self._etf_cache[1]

    @staticmethod
    def _check_inputs(features: torch.Tensor, etf: torch.Tensor) -> None:
        if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] == 0:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"DisA `features` must be a non-empty tensor of shape (batch, dim), got {shape}.")
        if not isinstance(etf, torch.Tensor) or etf.ndim != 2:
            shape = tuple(etf.shape) if isinstance(etf, torch.Tensor) else type(etf).__name__
            raise ValueError(f"DisA `etf` must be a tensor of shape (dim, num_classes), got {shape}.")
        dim = features.shape[1]
        if etf.shape[0] != dim:
            hint = (
                " It looks transposed: pass `etf.T` (columns are the class vertices)."
                if etf.shape[1] == dim
                else " Use the ETF built for this feature dimension (`model.get_target_etf()`), or set the model's "
                "`projection_dim` so that the features match it."
            )
            raise ValueError(
                f"DisA `features` have dim {dim} but `etf` has shape {tuple(etf.shape)}; the ETF must be "
                f"(feature_dim, num_classes) = ({dim}, K).{hint}"
            )

    def forward(self, features: torch.Tensor, etf: torch.Tensor) -> torch.Tensor:
        """DisA loss `<T*, C>` of a batch.

        Args:
            features (`torch.Tensor` of shape `(batch, dim)`): penultimate features (what the head sees).
            etf (`torch.Tensor` of shape `(dim, num_classes)`): the target simplex ETF, one vertex per column.

        Returns:
            `torch.Tensor`: scalar in the dtype of the computation (float32, or float64 for float64 features).
        """
        cost = self.cost_matrix(features, etf)
        kwargs = dict(max_iter=self.max_iter, tol=self.tol, check_every=self.check_every, return_info=True)
        if self.plan_grad == "detach":
            with torch.no_grad():
                plan, info = sinkhorn(cost.detach(), self.epsilon, **kwargs)
        else:
            plan, info = sinkhorn(cost, self.epsilon, **kwargs)
        self.last_plan = plan.detach()
        self.last_info = info
        return (plan * cost).sum()

    def alignment_matrix(self, labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
        """Alignment matrix `A = L^T T` of the last plan (paper sec. 4.3).

        Args:
            labels (`torch.Tensor` of shape `(batch,)`): class ids of the batch of the last call.
            num_classes (`int`, *optional*): number of label classes; defaults to the number of ETF columns.

        Returns:
            `torch.Tensor` of shape `(num_classes, num_etf_columns)`: `A[k, k']` is the plan mass moved from the
            samples of class `k` to vertex `k'`.
        """
        if self.last_plan is None:
            raise ValueError("`alignment_matrix` needs a plan: call the DisA loss on a batch first.")
        plan = self.last_plan
        num_classes = plan.shape[1] if num_classes is None else int(num_classes)
        check_labels(labels, num_classes, plan.shape[0])
        one_hot = F.one_hot(labels.to(plan.device), num_classes).to(plan.dtype)
        return one_hot.T @ plan

    def extra_repr(self) -> str:
        return (
            f"epsilon={self.epsilon}, cost={self.cost!r}, plan_grad={self.plan_grad!r}, max_iter={self.max_iter}, "
            f"tol={self.tol}"
        )
