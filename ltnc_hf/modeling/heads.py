"""Simplex ETF and the classifier heads: linear, cosine ("normed linear") and fixed ETF.

- Simplex ETF (Papyan et al. 2020; as a fixed classifier: Yang et al., "Inducing Neural Collapse in Imbalanced
  Learning", NeurIPS 2022, eq. (1); DisA, ICML 2024, eq. (1)). Both papers print `I - 1/(K-1) 11^T`; that is a typo.
  We use the formula of every public implementation:

      M = sqrt(K / (K - 1)) * U (I_K - (1/K) 1 1^T),   U in R^{d x K} with orthonormal columns,

  whose columns have unit norm and pairwise cosine exactly -1/(K-1). `U` is the Q factor of a Gaussian matrix drawn
  from a local, seeded `torch.Generator`, so the ETF is reproducible and the global RNG is never touched.
- The cosine head follows the `NormedLinear` of LDAM-DRW (Cao et al., NeurIPS 2019): logits are cosines between
  L2-normalised features and L2-normalised class weights, times a scale.
- The ETF head is `h @ M` with `M` a persistent, frozen buffer (saved with the weights, never a parameter). In ETF-DR
  the features reaching it are BatchNorm1d + L2-normalised; that normalisation lives in `FeatureNeck`.

This file imports nothing from `ltnc_hf` so that it can be shipped next to a checkpoint as remote code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "simplex_etf",
    "spread_unit_vectors",
    "SPREAD_CRITERIA",
    "FeatureNeck",
    "LinearHead",
    "CosineHead",
    "EtfHead",
    "ETF_KINDS",
    "FEATURE_NORMS",
]

FEATURE_NORMS = ("none", "l2", "bn_l2")
ETF_KINDS = ("simplex", "spread")


def simplex_etf(num_classes: int, dim: int, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A seeded simplex equiangular tight frame.

    Args:
        num_classes (`int`): number of vertices `K` (>= 2).
        dim (`int`): ambient dimension `d`; needs `d >= K`.
        seed (`int`, *optional*, defaults to 0): seed of the local generator drawing the orthonormal basis.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`): dtype of the result (computed in float64).

    Returns:
        `torch.Tensor` of shape `(dim, num_classes)` on the CPU: unit-norm columns with pairwise cosine `-1/(K-1)`
        and zero column sum.
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"simplex_etf needs num_classes >= 2 (got {num_classes!r}).")
    if not isinstance(dim, int) or dim < num_classes:
        raise ValueError(
            f"simplex_etf needs dim >= num_classes (got dim={dim} < num_classes={num_classes}); use features of at "
            f"least {num_classes} dimensions (e.g. `projection_dim={num_classes}` on the model config)."
        )
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    gaussian = torch.randn(dim, num_classes, generator=generator, dtype=torch.float64)
    basis, triangular = torch.linalg.qr(gaussian)  # reduced QR: (dim, K) with orthonormal columns
    # Make the factorisation unique (positive diagonal of R) so the result does not depend on the LAPACK sign choice.
    signs = torch.sign(torch.diagonal(triangular))
    signs[signs == 0] = 1.0
    basis = basis * signs
    # U (I - 11^T / K) == U - (U 1) 1^T / K: subtract each row's mean.
    etf = math.sqrt(num_classes / (num_classes - 1)) * (basis - basis.mean(dim=1, keepdim=True))
    return etf.to(dtype).contiguous()


SPREAD_CRITERIA = ("max_cosine", "coherence")


def _seeded_rotation(dim: int, generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return q * signs


def _simplex_plus_cross_polytope(num_classes: int, dim: int) -> torch.Tensor:
    """`d + 1 < K <= 2d` unit vectors with maximum pairwise cosine exactly 0 and zero sum: an `m`-vertex simplex in
    `m - 1` dimensions (m = 2d + 2 - K) and `K - d - 1` antipodal pairs on the remaining axes."""
    m = 2 * dim + 2 - num_classes
    centred = torch.eye(m, dtype=torch.float64) - 1.0 / m
    basis, _ = torch.linalg.qr(centred[:, : m - 1])  # orthonormal basis of the hyperplane orthogonal to 1
    vectors = torch.zeros(dim, num_classes, dtype=torch.float64)
    vectors[: m - 1, :m] = math.sqrt(m / (m - 1)) * basis.T @ centred
    for pair in range(num_classes - dim - 1):
        vectors[m - 1 + pair, m + 2 * pair] = 1.0
        vectors[m - 1 + pair, m + 2 * pair + 1] = -1.0
    return vectors


def spread_unit_vectors(
    num_classes: int,
    dim: int,
    *,
    seed: int = 0,
    criterion: str = "max_cosine",
    num_steps: int = 1000,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    r"""Evenly spread unit vectors: an ETF-like classifier target also when there are more classes than dimensions.

    For `K <= d` this is [`simplex_etf`] (the optimum for both criteria). For `K > d` no simplex ETF exists, and
    "evenly spread" has two readings, chosen by `criterion`:

    - `"max_cosine"` (default, the spherical-code / Tammes problem): minimise the largest pairwise cosine, which is
      what separates classes under a linear classifier (margin `<w_i - w_j, h>`; antipodal pairs are the best
      separated). For `K = d + 1` the simplex (cosine `-1/d`) is optimal; for `d + 1 < K <= 2d` the optimum is exactly
      0 (Rankin, 1955) and is built in closed form (a simplex plus antipodal pairs, zero column sum); for `K > 2d` it
      is approximated numerically.
    - `"coherence"` (Grassmannian packing): minimise the largest `|cos|`, bounded below by the Welch bound
      `sqrt((K - d) / (d (K - 1)))`; approximated numerically.

    The numerical cases minimise a log-sum-exp (soft maximum) of the pairwise (absolute) cosines with Adam on the
    sphere, the temperature growing from 10 to 1000, starting from seeded Gaussian vectors, and return the best
    iterate. All randomness comes from a local generator seeded with `seed` (a seeded random rotation is also applied
    to the closed-form cases).

    Args:
        num_classes (`int`): number of vectors `K` (>= 2).
        dim (`int`): dimension `d` (>= 2).
        seed (`int`, *optional*, defaults to 0): seed of the local generator.
        criterion (`str`, *optional*, defaults to `"max_cosine"`): one of `SPREAD_CRITERIA`.
        num_steps (`int`, *optional*, defaults to 1000): optimisation steps of the numerical cases.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`): dtype of the result.

    Returns:
        `torch.Tensor` of shape `(dim, num_classes)` with unit-norm columns, on the CPU.
    """
    if criterion not in SPREAD_CRITERIA:
        raise ValueError(f"Unknown criterion {criterion!r}, expected one of {SPREAD_CRITERIA}.")
    if not isinstance(num_classes, int) or num_classes < 2 or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"spread_unit_vectors needs num_classes >= 2 and dim >= 2 (got {num_classes}, {dim}).")
    if num_classes <= dim:
        return simplex_etf(num_classes, dim, seed=seed, dtype=dtype)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    closed_form = num_classes == dim + 1 or (criterion == "max_cosine" and num_classes <= 2 * dim)
    if closed_form:
        vectors = _seeded_rotation(dim, generator) @ _simplex_plus_cross_polytope(num_classes, dim)
        vectors = vectors[:, torch.randperm(num_classes, generator=generator)]
        return F.normalize(vectors, dim=0).to(dtype).contiguous()

    start = F.normalize(torch.randn(dim, num_classes, generator=generator), dim=0)
    param = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([param], lr=0.01)
    diagonal = torch.eye(num_classes, dtype=torch.bool)
    best, best_value = start, float("inf")
    with torch.enable_grad():
        for step in range(num_steps + 1):
            vectors = F.normalize(param, dim=0)
            cosines = vectors.T @ vectors
            if criterion == "coherence":
                cosines = cosines.abs()
            cosines = cosines.masked_fill(diagonal, float("-inf"))
            value = cosines.max().item()
            if value < best_value:
                best, best_value = vectors.detach().clone(), value
            if step == num_steps:
                break
            temperature = 10.0 * 100.0 ** (step / max(num_steps - 1, 1))
            loss = torch.logsumexp(temperature * cosines.flatten(), dim=0) / temperature
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return best.to(dtype).contiguous()


class FeatureNeck(nn.Module):
    """Optional projection, then the feature normalisation the head sees.

    Args:
        in_features (`int`): backbone feature dimension.
        projection_dim (`int`, *optional*): output dimension of a linear projection; `None` keeps `in_features`.
        feature_norm (`str`, defaults to `"none"`): one of `FEATURE_NORMS`: `"none"`, `"l2"` (unit-norm features)
            or `"bn_l2"` (BatchNorm1d then unit norm, as in ETF-DR).

    Shapes: (batch, in_features) -> (batch, out_features).
    """

    def __init__(self, in_features: int, projection_dim: int | None = None, feature_norm: str = "none") -> None:
        super().__init__()
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f"Unknown feature_norm {feature_norm!r}, expected one of {FEATURE_NORMS}.")
        self.in_features = in_features
        self.out_features = projection_dim if projection_dim is not None else in_features
        self.feature_norm = feature_norm
        self.projection = nn.Linear(in_features, projection_dim) if projection_dim is not None else nn.Identity()
        self.bn = nn.BatchNorm1d(self.out_features) if feature_norm == "bn_l2" else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = self.bn(self.projection(features))
        if self.feature_norm in ("l2", "bn_l2"):
            features = F.normalize(features, dim=-1)
        return features


class LinearHead(nn.Linear):
    """Learnable linear classifier: logits = h W^T + b, weight of shape (num_classes, dim)."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__(dim, num_classes)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """`nn.Linear`'s initialisation, drawn from `generator` when given."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        nn.init.uniform_(self.bias, -bound, bound, generator=generator)


class CosineHead(nn.Module):
    """Cosine classifier: logits = scale * <h / |h|, w_k / |w_k|>, weight of shape (num_classes, dim).

    Args:
        dim (`int`): feature dimension.
        num_classes (`int`): number of classes.
        scale (`float`, defaults to 1.0): multiplies the cosines (LDAM uses s = 30 inside the loss instead).
    """

    def __init__(self, dim: int, num_classes: int, scale: float = 1.0) -> None:
        super().__init__()
        self.in_features = dim
        self.out_features = num_classes
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform in [-1, 1], rows rescaled to unit norm (LDAM-DRW's `NormedLinear`)."""
        with torch.no_grad():
            nn.init.uniform_(self.weight, -1.0, 1.0, generator=generator)
            self.weight.copy_(F.normalize(self.weight, dim=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(features, dim=-1) @ F.normalize(self.weight, dim=1).t()


class EtfHead(nn.Module):
    """Fixed ETF classifier: logits = scale * h @ M, `M` a frozen persistent buffer of shape (dim, K).

    Args:
        dim (`int`): feature dimension (>= num_classes for `kind="simplex"`).
        num_classes (`int`): number of classes.
        seed (`int`, defaults to 0): seed of the ETF.
        scale (`float`, defaults to 1.0): multiplies the logits.
        kind (`str`, defaults to `"simplex"`): `"simplex"` ([`simplex_etf`]) or `"spread"`
            ([`spread_unit_vectors`], which also exists for num_classes > dim).
    """

    def __init__(self, dim: int, num_classes: int, seed: int = 0, scale: float = 1.0, kind: str = "simplex") -> None:
        super().__init__()
        if kind not in ETF_KINDS:
            raise ValueError(f"Unknown ETF kind {kind!r}, expected one of {ETF_KINDS}.")
        self.in_features = dim
        self.out_features = num_classes
        self.seed = seed
        self.scale = scale
        self.kind = kind
        # Under transformers' meta-device construction (`from_pretrained`) the values come from the checkpoint, or
        # from `reset_etf()` when they are missing: computing them here would be wasted work.
        self.etf_computed = torch.empty(0).device.type != "meta"
        etf = self._build() if self.etf_computed else torch.empty(dim, num_classes)
        self.register_buffer("etf", etf, persistent=True)

    def _build(self) -> torch.Tensor:
        if self.kind == "spread":
            return spread_unit_vectors(self.out_features, self.in_features, seed=self.seed)
        return simplex_etf(self.out_features, self.in_features, seed=self.seed)

    @torch.no_grad()
    def reset_etf(self) -> None:
        """(Re)compute the buffer from `seed`."""
        self.etf.copy_(self._build().to(self.etf))
        self.etf_computed = True

    @property
    def weight(self) -> torch.Tensor:
        """The ETF as a (num_classes, dim) classifier weight (a view of the buffer)."""
        return self.etf.t()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * features @ self.etf
