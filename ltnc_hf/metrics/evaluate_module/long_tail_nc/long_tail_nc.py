# Copyright the ltnc-hf contributors. Licensed under the Apache License, Version 2.0.
"""Long-tailed accuracy and neural-collapse diagnostics as an `evaluate` metric (loads offline from its folder)."""

import datasets
import evaluate
import numpy as np

from ltnc_hf.metrics import long_tail_accuracy, neural_collapse_metrics, to_jsonable

_CITATION = """\
@inproceedings{gao2024disa,
  title     = {Distribution Alignment Optimization through Neural Collapse for Long-tailed Classification},
  author    = {Gao, Jintong and Zhao, He and Guo, Dandan and Zha, Hongyuan},
  booktitle = {Proceedings of the 41st International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {235},
  year      = {2024}
}
@article{papyan2020prevalence,
  title   = {Prevalence of Neural Collapse during the Terminal Phase of Deep Learning Training},
  author  = {Papyan, Vardan and Han, X. Y. and Donoho, David L.},
  journal = {Proceedings of the National Academy of Sciences},
  volume  = {117},
  number  = {40},
  pages   = {24652--24663},
  year    = {2020}
}
"""

_DESCRIPTION = """\
Accuracy of a long-tailed classifier overall, per class, per shot group (many-shot classes have more than `many=100`
training images, few-shot classes fewer than `few=20`, medium-shot the rest), balanced and top-5 (from logits).
Given the last-layer `features`, it adds the neural-collapse statistics NC1-NC4, the covariance traces and, with the
`classifier_weight`, the feature-classifier cosine of SpA. Classes are defined by `train_class_counts`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class ids (one int per sample) or logits (one list of num_classes floats per sample).
    references: true class ids.
    train_class_counts: training images per class (list of int, length num_classes). Give it here or when
        loading: `evaluate.load(path, train_class_counts=[...])`.
    many: many-shot threshold (default 100, or the value given when loading).
    few: few-shot threshold (default 20, or the value given when loading).
    features: optional array (num_samples, dim) of last-layer features, for the neural-collapse statistics; given
        to `compute` or batch by batch to `add_batch` (with every batch).
    classifier_weight: optional array (num_classes, dim), the classifier rows (NC3, SpA cosine).
Returns:
    accuracy, many_accuracy, medium_accuracy, few_accuracy (None for an empty group), balanced_accuracy,
    per_class_accuracy (list, None for a class without test samples), top5_accuracy (logits with >= 5 classes),
    num_many_classes, num_medium_classes, num_few_classes; with features also nc1, nc2_equinorm, nc2_equiangular,
    nc4 (from the logits or the classifier), trace_within, trace_between, trace_total, ncc_accuracy,
    class_mean_cosines, class_mean_norms, num_classes_present and, with classifier_weight, nc3, w_m_cosine,
    spa_cosine, spa_cosine_per_class, nc2_w_equinorm, nc2_w_equiangular.
Examples:
    >>> metric = evaluate.load("ltnc_hf/metrics/evaluate_module/long_tail_nc", train_class_counts=[500, 50, 5])
    >>> metric.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2])["medium_accuracy"]
    0.5
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LongTailNc(evaluate.Metric):
    def __init__(self, train_class_counts=None, many=100, few=20, **kwargs):
        self.train_class_counts = None if train_class_counts is None else [int(c) for c in train_class_counts]
        self.many = many
        self.few = few
        super().__init__(**kwargs)

    # `features` is optional: evaluate requires every input column in every call, so a missing one is filled with
    # None (one per sample) before it reaches evaluate
    def add_batch(self, *, predictions=None, references=None, features=None, **kwargs):
        """Add a batch of predictions and references, and optionally their features."""
        if features is None and predictions is not None:
            features = [None] * len(predictions)
        return super().add_batch(predictions=predictions, references=references, features=features, **kwargs)

    def add(self, *, prediction=None, reference=None, features=None, **kwargs):
        """Add one prediction and reference, and optionally its features."""
        return super().add(prediction=prediction, reference=reference, features=features, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Compute the metrics on the given or the accumulated inputs."""
        if predictions is not None and kwargs.get("features") is None:
            kwargs["features"] = [None] * len(predictions)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # `features` is an optional input column, so that `add_batch(..., features=...)` accumulates them
            # with the predictions (float64: the NC statistics are computed in double precision)
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("float32")),
                        "references": datasets.Value("int64"),
                        "features": datasets.Sequence(datasets.Value("float64")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("int64"),
                        "references": datasets.Value("int64"),
                        "features": datasets.Sequence(datasets.Value("float64")),
                    }
                ),
            ],
        )

    def _compute(
        self,
        predictions,
        references,
        train_class_counts=None,
        many=None,
        few=None,
        features=None,
        classifier_weight=None,
    ):
        counts = train_class_counts if train_class_counts is not None else self.train_class_counts
        if counts is None:
            raise ValueError(
                "long_tail_nc needs the training images per class: pass `train_class_counts=[...]` to "
                "`evaluate.load(...)` or to `compute(...)`."
            )
        many = self.many if many is None else many
        few = self.few if few is None else few
        predictions = np.asarray(predictions)
        references = np.asarray(references)
        result = long_tail_accuracy(predictions, references, counts, many=many, few=few)
        if features is not None and all(f is None for f in features):
            features = None  # batches added without features
        elif features is not None and any(f is None for f in features):
            raise ValueError(
                "long_tail_nc got `features` for some batches only; pass them with every `add_batch` call or none."
            )
        if features is not None:
            nc = neural_collapse_metrics(
                np.asarray(features),
                references,
                weight=None if classifier_weight is None else np.asarray(classifier_weight),
                logits=predictions if predictions.ndim == 2 else None,
                num_classes=len(counts),
            )
            result.update(to_jsonable(nc))
        return result
