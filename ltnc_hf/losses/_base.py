"""Shared plumbing of the supervised losses: input checks, class-count handling, weighted reduction and mixup."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["SupervisedLoss", "as_class_counts", "check_labels", "check_lam", "check_logits"]


def as_class_counts(class_counts: Sequence[int] | torch.Tensor | None, loss_name: str) -> torch.Tensor:
    """Validate per-class training counts and return them as a float64 tensor of shape `(num_classes,)`."""
    if class_counts is None:
        raise ValueError(
            f"Loss '{loss_name}' needs the per-class training counts; pass `class_counts` (e.g. "
            "`ltnc_hf.data.class_counts(train_dataset)`)."
        )
    counts = torch.as_tensor(class_counts, dtype=torch.float64).detach().cpu()
    if counts.ndim != 1 or counts.numel() < 2:
        raise ValueError(
            f"`class_counts` for loss '{loss_name}' must be a 1-D sequence with one count per class (at least 2), "
            f"got shape {tuple(counts.shape)}."
        )
    if not bool(torch.isfinite(counts).all()) or bool((counts <= 0).any()):
        bad = [i for i, c in enumerate(counts.tolist()) if not c > 0][:10]
        raise ValueError(
            f"Loss '{loss_name}' needs a positive count for every class, but classes {bad} have counts "
            f"{[counts[i].item() for i in bad]}; drop the empty classes from the label set or choose a loss that "
            "does not use class counts (e.g. 'ce')."
        )
    return counts


def check_logits(logits: torch.Tensor, num_classes: int | None = None) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"`logits` must be a tensor of shape (batch, num_classes), got {shape}.")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(
            f"`logits` have {logits.shape[1]} classes but the loss was built for {num_classes} classes (from "
            "`class_counts`); build the loss with the counts of the label set the model predicts."
        )


def check_labels(labels: torch.Tensor, num_classes: int, batch_size: int | None = None, name: str = "labels") -> None:
    """Raise a `ValueError` unless `labels` is an integer tensor of shape `(batch,)` with ids in `[0, num_classes)`."""
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"`{name}` must be a 1-D tensor of class ids, got {shape}.")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(
            f"`{name}` must hold integer class ids, got dtype {labels.dtype}; soft (mixup) targets are passed as "
            "`labels`, `labels_b` and `lam`."
        )
    if batch_size is not None and labels.shape[0] != batch_size:
        raise ValueError(f"`{name}` has {labels.shape[0]} entries but the batch has {batch_size} rows.")
    if torch.compiler.is_compiling():
        return  # reading the values would be a host sync (a graph break); the trainer checks the dataset up front
    if labels.numel() and bool(((labels < 0) | (labels >= num_classes)).any()):
        bad = labels[(labels < 0) | (labels >= num_classes)][:5].tolist()
        raise ValueError(
            f"`{name}` must be class ids in [0, {num_classes}), got {bad}; check the dataset's label column and "
            "the model's `num_labels`."
        )


def check_lam(lam: float) -> float:
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"The mixup coefficient `lam` must be in [0, 1], got {lam}.")
    return lam


class SupervisedLoss(nn.Module):
    """Base class of the supervised losses with the uniform call used by the trainer.

    Subclasses implement `per_sample(logits, labels, features)` returning the unreduced loss of shape `(batch,)`.
    The base class validates the inputs, reduces with optional per-class weights exactly like
    `torch.nn.functional.cross_entropy(weight=...)` does (`sum_i w_{y_i} l_i / sum_i w_{y_i}`), and combines mixup
    targets as `lam * L(labels) + (1 - lam) * L(labels_b)`.
    """

    #: whether `forward` needs the penultimate `features` (the trainer passes them when True)
    requires_features: bool = False
    #: number of classes fixed at construction (from class counts), or None
    num_classes: int | None = None

    def per_sample(
        self, logits: torch.Tensor, labels: torch.Tensor, features: torch.Tensor | None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reduce(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        features: torch.Tensor | None,
        class_weight: torch.Tensor | None,
    ) -> torch.Tensor:
        losses = self.per_sample(logits, labels, features)
        if class_weight is None:
            return losses.mean()
        sample_weight = class_weight[labels]
        return (sample_weight * losses).sum() / sample_weight.sum()

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        *,
        labels_b: torch.Tensor | None = None,
        lam: float = 1.0,
        features: torch.Tensor | None = None,
        class_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean loss over the batch.

        Args:
            logits (`torch.Tensor` of shape `(batch, num_classes)`): classifier outputs.
            labels (`torch.Tensor` of shape `(batch,)`): integer class ids (the first mixup target `y_a`).
            labels_b (`torch.Tensor` of shape `(batch,)`, *optional*): second mixup target `y_b`.
            lam (`float`, *optional*, defaults to 1.0): mixup coefficient; the loss is
                `lam * L(labels) + (1 - lam) * L(labels_b)`.
            features (`torch.Tensor` of shape `(batch, dim)`, *optional*): penultimate features, needed when
                `requires_features` is True.
            class_weight (`torch.Tensor` of shape `(num_classes,)`, *optional*): per-class weights (e.g. DRW's),
                applied like the `weight=` of `torch.nn.functional.cross_entropy`.

        Returns:
            `torch.Tensor`: scalar loss.
        """
        check_logits(logits, self.num_classes)
        batch, num_classes = logits.shape
        check_labels(labels, num_classes, batch)
        lam = check_lam(lam)
        if labels_b is not None:
            check_labels(labels_b, num_classes, batch, name="labels_b")
        elif lam != 1.0:
            raise ValueError(f"`lam={lam}` was given without `labels_b`; pass both mixup targets or leave lam=1.0.")
        if self.requires_features:
            if features is None:
                raise ValueError(
                    f"{type(self).__name__} needs the penultimate `features` (batch, dim); pass `features=` "
                    "(the model output's `features` field)."
                )
            if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] != batch:
                shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
                raise ValueError(f"`features` must have shape ({batch}, dim), got {shape}.")
        if class_weight is not None:
            class_weight = torch.as_tensor(class_weight)
            if class_weight.shape != (num_classes,):
                raise ValueError(
                    f"`class_weight` must have shape ({num_classes},), one weight per class, got "
                    f"{tuple(class_weight.shape)}."
                )
            class_weight = class_weight.to(device=logits.device, dtype=torch.float32)

        loss = self._reduce(logits, labels, features, class_weight)
        if labels_b is not None and lam != 1.0:
            loss = lam * loss + (1.0 - lam) * self._reduce(logits, labels_b, features, class_weight)
        return loss
