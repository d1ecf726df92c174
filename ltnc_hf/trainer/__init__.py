"""Training: `LtncTrainingArguments`, `LtncTrainer` and the method callbacks."""

from .callbacks import MaxNormCallback, SpAProjectionCallback, SpASlerpCallback
from .ltnc_config import SAMPLER_CHOICES, SPA_MODES, STAGES, LtncTrainingArguments
from .ltnc_trainer import LtncTrainer, dataset_labels

__all__ = [
    "LtncTrainer",
    "LtncTrainingArguments",
    "MaxNormCallback",
    "SAMPLER_CHOICES",
    "SPA_MODES",
    "STAGES",
    "SpAProjectionCallback",
    "SpASlerpCallback",
    "dataset_labels",
]
