"""Evaluation of long-tailed classifiers: shot-group accuracy, neural-collapse diagnostics, plots, Trainer hooks.

`EVALUATE_MODULE_PATH` is the folder of the `evaluate` metric `long_tail_nc`: `evaluate.load(EVALUATE_MODULE_PATH)`.
"""

from pathlib import Path

from ._utils import shot_group_masks, to_jsonable
from .callbacks import NeuralCollapseCallback
from .compute_metrics import LongTailMetrics, split_predictions
from .evaluation import evaluate_model
from .long_tail import SHOT_GROUPS, long_tail_accuracy
from .neural_collapse import neural_collapse_metrics
from .plots import (
    plot_alignment_matrix,
    plot_class_mean_angles,
    plot_confusion_matrix,
    plot_nc_traces,
    plot_per_class_accuracy,
    plot_transport_plan,
    plot_tsne,
)

EVALUATE_MODULE_PATH = str(Path(__file__).parent / "evaluate_module" / "long_tail_nc")

__all__ = [
    "EVALUATE_MODULE_PATH",
    "SHOT_GROUPS",
    "LongTailMetrics",
    "NeuralCollapseCallback",
    "evaluate_model",
    "long_tail_accuracy",
    "neural_collapse_metrics",
    "plot_alignment_matrix",
    "plot_class_mean_angles",
    "plot_confusion_matrix",
    "plot_nc_traces",
    "plot_per_class_accuracy",
    "plot_transport_plan",
    "plot_tsne",
    "shot_group_masks",
    "split_predictions",
    "to_jsonable",
]
