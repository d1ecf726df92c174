"""Dot-Regression (DR) loss for a fixed simplex-ETF classifier.

Yang et al., "Inducing Neural Collapse in Imbalanced Learning: Do We Really Need a Learnable Classifier at the End of
Deep Neural Network?", NeurIPS 2022, eq. (9): `L_DR = 1/2 (w_y^T h - E_W E_H)^2 / (E_W E_H)`. As in the official
code (NeuralCollapseApplications/ImbalancedLearning), the implemented form is

    l_i = 1/2 * (<h_i, w_{y_i}> - ||w_{y_i}|| * ||h_i||)^2 / ||h_i||

with both norms detached, averaged over the batch. Only the target class enters: there is no push-away term, which
is why it suits a fixed ETF head.

Where `w_y` comes from (a choice of this package): by default from the logits, `<h_i, w_y> = logits[i, y] /
logit_scale` with `||w_y|| = 1`, which is exact for the package's ETF head (unit-norm ETF columns, no bias, logits
`logit_scale * h @ M`) and needs no copy of the ETF. Pass `classifier_weight` (the `(num_classes, dim)` weight, e.g.
`model.get_classifier_weight()`) to compute `<h, w_y>` and `||w_y||` from the weight itself instead, for heads whose
logits are not plain dot products.
"""

from __future__ import annotations

import torch

from ._base import SupervisedLoss

__all__ = ["DotRegressionLoss"]


class DotRegressionLoss(SupervisedLoss):
    """Dot-Regression loss with the uniform supervised-loss call; needs `features` (`requires_features = True`).

    Args:
        classifier_weight (`torch.Tensor` of shape `(num_classes, dim)`, *optional*):
            Fixed classifier weight `W` (rows `w_k`). When omitted, `<h, w_y>` is read from the logits.
        logit_scale (`float`, *optional*, defaults to 1.0):
            Scale of the ETF head's logits (`LtncConfig.logit_scale`); only used without `classifier_weight`.
        eps (`float`, *optional*, defaults to 1e-8):
            Floor on `||h||` so that zero features do not divide by zero.
    """

    requires_features = True

    def __init__(
        self, classifier_weight: torch.Tensor | None = None, logit_scale: float = 1.0, eps: float = 1e-8
    ) -> None:
        super().__init__()
        if not logit_scale > 0:
            raise ValueError(f"`logit_scale` must be > 0, got {logit_scale}.")
        self.logit_scale = float(logit_scale)
        self.eps = float(eps)
        if classifier_weight is not None:
            classifier_weight = torch.as_tensor(classifier_weight).detach()
            if classifier_weight.ndim != 2:
                raise ValueError(
                    f"`classifier_weight` must have shape (num_classes, dim), got {tuple(classifier_weight.shape)}."
                )
            self.num_classes = classifier_weight.shape[0]
            self.register_buffer("classifier_weight", classifier_weight.clone(), persistent=False)
        else:
            self.classifier_weight = None

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        assert features is not None  # checked by SupervisedLoss.forward
        h = features.float()
        h_norm = h.detach().norm(dim=1).clamp_min(self.eps)
        if self.classifier_weight is None:
            dot = logits.float().gather(1, labels.unsqueeze(1)).squeeze(1) / self.logit_scale
            w_norm = torch.ones_like(h_norm)
        else:
            weight = self.classifier_weight.to(device=h.device, dtype=h.dtype)
            if weight.shape[1] != h.shape[1]:
                raise ValueError(
                    f"`features` have dim {h.shape[1]} but `classifier_weight` has shape {tuple(weight.shape)}; "
                    "pass the (num_classes, feature_dim) weight the head applies to these features."
                )
            w = weight[labels]
            dot = (h * w).sum(dim=1)
            w_norm = w.norm(dim=1)
        return 0.5 * (dot - w_norm * h_norm) ** 2 / h_norm

    def extra_repr(self) -> str:
        source = "classifier_weight" if self.classifier_weight is not None else f"logits/{self.logit_scale}"
        return f"w_y from {source}"
