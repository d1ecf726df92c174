"""Per-step and per-epoch weight edits of the long-tail methods, as `transformers.TrainerCallback`s.

- `SpAProjectionCallback`: SpA-Proj (eqs. 17-20) in `on_pre_optimizer_step`, where the gradients are unscaled and
  already all-reduced across processes, so every rank projects the same gradient.
- `SpASlerpCallback`: SpA-SLERP at epoch ends, with the cosine schedule of alpha; the class means are all-reduced by
  the tracker, so every rank makes the same edit.
- `MaxNormCallback`: per-class weight-norm projection after each optimizer step (Alshammari et al., 2022).
"""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback


def _unwrap(model):
    while hasattr(model, "module"):
        model = model.module
    return model


class SpAProjectionCallback(TrainerCallback):
    """Applies `ltnc_hf.losses.spa_project_grad_` to the classifier-weight gradient before each optimizer step."""

    def __init__(self, tracker, gamma: float):
        self.tracker = tracker
        self.gamma = gamma

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        from ..losses import spa_project_grad_

        weight = _unwrap(model).classifier_parameter
        if weight is None or weight.grad is None:
            return
        spa_project_grad_(
            weight, self.tracker.centered_means().to(weight.dtype), gamma=self.gamma, mask=self.tracker.seen
        )


class SpASlerpCallback(TrainerCallback):
    """SpA-SLERP: rotate classifier weights toward their centred class means at the end of selected epochs."""

    def __init__(self, tracker, alpha_max: float, tau: float, every_n_epochs: int = 1, start_epoch: int = 0):
        self.tracker = tracker
        self.alpha_max = alpha_max
        self.tau = tau
        self.every_n_epochs = every_n_epochs
        self.start_epoch = start_epoch
        self.last_num_updated = 0
        self.last_alpha = 0.0

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        from ..losses import spa_slerp_, spa_slerp_alpha

        epoch = int(round(state.epoch))  # epochs completed
        if epoch <= self.start_epoch or (epoch - self.start_epoch) % self.every_n_epochs != 0:
            return
        weight = _unwrap(model).classifier_parameter
        if weight is None:
            return
        total = max(int(math.ceil(args.num_train_epochs)), 1)
        alpha = spa_slerp_alpha(epoch, total, self.alpha_max)
        with torch.no_grad():
            updated = spa_slerp_(
                weight,
                self.tracker.centered_means().to(weight.dtype),
                alpha=alpha,
                tau=self.tau,
                mask=self.tracker.seen,
            )
        self.last_alpha = alpha
        self.last_num_updated = int(updated.sum()) if updated is not None else 0


class MaxNormCallback(TrainerCallback):
    """Projects every class weight vector onto the ball of radius ``threshold`` after each optimizer step."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        weight = _unwrap(model).classifier_parameter
        if weight is None:
            return
        with torch.no_grad():
            norms = weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
            weight.mul_(torch.clamp(self.threshold / norms, max=1.0))
