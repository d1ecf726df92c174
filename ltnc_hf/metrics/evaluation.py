"""`evaluate_model`: run a classifier over a dataset split, write `metrics.json` and the diagnostic plots."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ._utils import to_jsonable, to_numpy
from .long_tail import long_tail_accuracy
from .neural_collapse import neural_collapse_metrics
from .plots import (
    plot_alignment_matrix,
    plot_class_mean_angles,
    plot_confusion_matrix,
    plot_per_class_accuracy,
    plot_transport_plan,
    plot_tsne,
)

logger = logging.getLogger(__name__)

_LABEL_KEYS = ("labels", "label")
_IMAGE_KEYS = ("image", "img")


def _load_model(model_or_path: Any) -> tuple[torch.nn.Module, str | None]:
    if isinstance(model_or_path, torch.nn.Module):
        return model_or_path, None
    if isinstance(model_or_path, (str, Path)):
        from transformers import AutoModelForImageClassification

        import ltnc_hf.modeling  # noqa: F401  (registers the `ltnc` Auto classes)

        return AutoModelForImageClassification.from_pretrained(str(model_or_path)), str(model_or_path)
    raise TypeError(
        f"`model_or_path` must be a torch.nn.Module or a local path / Hub id, got {type(model_or_path).__name__}."
    )


def _label_column(dataset: Any) -> str | None:
    names = getattr(dataset, "column_names", None)
    if names is None:
        return None
    for key in _LABEL_KEYS:
        if key in names:
            return key
    raise ValueError(f"The dataset has no label column; expected one of {_LABEL_KEYS}, found {names}.")


def _dataset_labels(dataset: Any) -> np.ndarray:
    column = _label_column(dataset)
    if column is None:
        raise ValueError("Cannot read the labels of a dataset that is not a `datasets.Dataset`.")
    # `with_format("numpy")` honours `select` indices (FACTS §4) and skips image decoding
    return np.asarray(dataset.with_format("numpy")[column]).astype(np.int64)


def _resolve_split(dataset: Any, split: str) -> tuple[Any, Any]:
    """Returns `(eval_dataset, train_dataset or None)`."""
    if isinstance(dataset, Mapping):
        if split not in dataset:
            raise ValueError(f"Unknown split {split!r}; the dataset has splits {sorted(dataset)}.")
        return dataset[split], dataset.get("train")
    return dataset, None


def _infer_counts(train_class_counts: Any, train_dataset: Any, model: torch.nn.Module) -> list[int]:
    if train_class_counts is not None:
        return [int(c) for c in to_numpy(train_class_counts).tolist()]
    config_counts = getattr(getattr(model, "config", None), "train_class_counts", None)
    if config_counts:
        return [int(c) for c in config_counts]
    if train_dataset is not None:
        num_labels = getattr(getattr(model, "config", None), "num_labels", None)
        labels = _dataset_labels(train_dataset)
        return np.bincount(labels, minlength=num_labels or 0).tolist()
    raise ValueError(
        "`train_class_counts` is needed for the many/medium/few groups: pass it, or a DatasetDict with a 'train' "
        "split to count from."
    )


class _Collate:
    def __init__(self, transform: Callable | None, processor: Any | None) -> None:
        self.transform = transform
        self.processor = processor

    def __call__(self, examples: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(examples[0], (tuple, list)):
            images, labels = zip(*examples)
            return torch.stack([torch.as_tensor(x) for x in images]), torch.as_tensor(labels, dtype=torch.long)
        first = examples[0]
        label_key = next((k for k in _LABEL_KEYS if k in first), None)
        if label_key is None:
            raise ValueError(f"Examples need a label under one of {_LABEL_KEYS}; got keys {sorted(first)}.")
        labels = torch.as_tensor([int(e[label_key]) for e in examples], dtype=torch.long)
        if "pixel_values" in first:
            return torch.stack([torch.as_tensor(e["pixel_values"]) for e in examples]), labels
        image_key = next((k for k in _IMAGE_KEYS if k in first), None)
        if image_key is None:
            raise ValueError(
                f"Examples need `pixel_values` or an image under one of {_IMAGE_KEYS}; got keys {sorted(first)}."
            )
        if self.transform is not None:
            return torch.stack([self.transform(e[image_key]) for e in examples]), labels
        if self.processor is not None:
            images = [e[image_key] for e in examples]
            return self.processor(images=images, return_tensors="pt")["pixel_values"], labels
        raise ValueError(
            "The examples hold raw images: pass `transform` (e.g. "
            "`ltnc_hf.data.create_transform(name, train=False, image_size=...)`) or a dataset with `pixel_values`."
        )


@torch.inference_mode()
def _predict(
    model: torch.nn.Module, loader: DataLoader, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    logits_list, features_list, labels_list = [], [], []
    for pixel_values, labels in loader:
        out = model(pixel_values=pixel_values.to(device))
        logits = out["logits"] if isinstance(out, Mapping) else out.logits
        features = out.get("features") if isinstance(out, Mapping) else getattr(out, "features", None)
        logits_list.append(logits.float().cpu())
        if features is not None:
            features_list.append(features.float().cpu())
        labels_list.append(labels)
    if not labels_list:
        raise ValueError("The evaluation split is empty.")
    features = torch.cat(features_list) if features_list else None
    return torch.cat(logits_list), features, torch.cat(labels_list)


def _transport_plots(
    features: torch.Tensor,
    labels: torch.Tensor,
    etf: torch.Tensor,
    output_dir: Path,
    *,
    epsilon: float,
    batch: int,
    seed: int,
    class_names: Sequence[str] | None,
) -> dict[str, str]:
    """Entropic plan between a random batch and the ETF columns (cost 1 − cos, uniform marginals), DisA Figs. 2, 5."""
    from ltnc_hf.ot import sinkhorn

    if etf.ndim != 2 or etf.shape[0] != features.shape[1]:
        raise ValueError(
            f"`get_target_etf()` must return (dim, num_classes) = ({features.shape[1]}, K), got {tuple(etf.shape)}."
        )
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(features.shape[0], generator=gen)[:batch]
    h = torch.nn.functional.normalize(features[idx].double(), dim=1)
    m = torch.nn.functional.normalize(etf.detach().cpu().double(), dim=0)
    plan = sinkhorn(1.0 - h @ m, epsilon=epsilon)
    y = labels[idx]
    num_classes = etf.shape[1]
    alignment = torch.nn.functional.one_hot(y, num_classes).double().T @ plan
    return {
        "transport_plan": plot_transport_plan(plan, y, output_dir / "transport_plan.png", class_names=class_names),
        "alignment_matrix": plot_alignment_matrix(
            alignment,
            output_dir / "alignment_matrix.png",
            class_names=class_names,
        ),
    }


def evaluate_model(
    model_or_path: Any,
    dataset: Any,
    *,
    split: str = "test",
    output_dir: str | Path,
    batch_size: int = 256,
    train_class_counts: Sequence[int] | None = None,
    plots: bool = True,
    device: str | torch.device | None = None,
    transform: Callable | None = None,
    many: int = 100,
    few: int = 20,
    class_names: Sequence[str] | None = None,
    tsne_samples: int = 2000,
    transport_epsilon: float = 1.0,
    seed: int = 0,
    num_workers: int = 0,
) -> dict[str, Any]:
    """Evaluates a classifier: long-tailed accuracy, neural-collapse statistics, `metrics.json` and plots.

    The model is called as `model(pixel_values=...)` and must return an object (or dict) with `logits`
    `(batch, num_classes)`; with `features` `(batch, dim)` the neural-collapse statistics are added, with
    `model.get_classifier_weight()` `(num_classes, dim)` the classifier-dependent ones (NC3, SpA cosine), and with
    `model.get_target_etf()` `(dim, num_classes)` (a model with an ETF) the transport-plan plots of a random batch.

    Args:
        model_or_path (`torch.nn.Module` or `str`):
            A model (e.g. `LtncForImageClassification`) or a path / Hub id loaded with
            `AutoModelForImageClassification.from_pretrained` (its image processor is used for raw images when no
            `transform` is given).
        dataset (`datasets.Dataset`, `datasets.DatasetDict` or a map-style torch dataset):
            Examples with `pixel_values` (tensor `(C, H, W)`) or an `image` (then `transform` is applied), and
            `labels` / `label`; a torch dataset may also yield `(pixel_values, label)` tuples.
        split (`str`, *optional*, defaults to `"test"`): Split evaluated when `dataset` is a `DatasetDict`.
        output_dir (`str` or `Path`): Where `metrics.json` and the PNG plots go.
        batch_size (`int`, *optional*, defaults to 256): Evaluation batch size.
        train_class_counts (sequence of `int`, *optional*):
            Training images per class. Defaults to `model.config.train_class_counts` when present, else the label
            counts of the `"train"` split of a `DatasetDict`.
        plots (`bool`, *optional*, defaults to `True`): Write the plots.
        device (`str` or `torch.device`, *optional*):
            Defaults to the model's device for a module, to CUDA when available for a path.
        transform (`Callable`, *optional*): Maps one image (PIL) to a tensor `(C, H, W)`.
        many, few (`int`): Shot-group thresholds (more than `many`, fewer than `few` training images).
        class_names (`list[str]`, *optional*): Defaults to `model.config.id2label` when it names the classes.
        tsne_samples (`int`, *optional*, defaults to 2000): Samples in the t-SNE plot (0 skips it).
        transport_epsilon (`float`, *optional*, defaults to 1.0): Entropic regularisation of the plotted plan
            (DisA's value).
        seed (`int`, *optional*, defaults to 0): Seed of the plotted subsamples.
        num_workers (`int`, *optional*, defaults to 0): DataLoader workers.

    Returns:
        `dict` (also written to `output_dir/metrics.json`, NaN as `null`): the keys of [`long_tail_accuracy`],
        `neural_collapse` (the output of [`neural_collapse_metrics`], arrays as lists; absent without features),
        `num_samples`, `split`, `model`, `train_class_counts` and `plots` (name → PNG path).
    """
    model, model_path = _load_model(model_or_path)
    eval_dataset, train_dataset = _resolve_split(dataset, split)
    counts = _infer_counts(train_class_counts, train_dataset, model)
    num_classes = len(counts)

    processor = None
    if model_path is not None and transform is None:
        try:
            from transformers import AutoImageProcessor

            processor = AutoImageProcessor.from_pretrained(model_path)
        except (OSError, ValueError) as err:
            logger.info("No image processor for %s (%s); the dataset must provide pixel_values.", model_path, err)
    if device is None:
        if model_path is None:
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
        else:
            device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    loader = DataLoader(
        eval_dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_Collate(transform, processor),
    )
    try:
        logits, features, labels = _predict(model, loader, device)
    finally:
        model.train(was_training)
    if logits.shape[1] != num_classes:
        raise ValueError(
            f"The model predicts {logits.shape[1]} classes but `train_class_counts` lists {num_classes}; pass the "
            "counts of the model's training set."
        )

    if class_names is None:
        id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
        names = [id2label.get(k, id2label.get(str(k))) for k in range(num_classes)]
        if all(n is not None for n in names) and names != [f"LABEL_{k}" for k in range(num_classes)]:
            class_names = [str(n) for n in names]

    result: dict[str, Any] = long_tail_accuracy(logits, labels, counts, many=many, few=few)
    weight = None
    if hasattr(model, "get_classifier_weight"):
        weight = model.get_classifier_weight().detach().to(device)
    nc = None
    if features is not None:
        nc = neural_collapse_metrics(
            features, labels, weight=weight, logits=logits, num_classes=num_classes, device=device
        )
        result["neural_collapse"] = nc
    result.update(
        num_samples=int(labels.shape[0]),
        split=split,
        model=model_path or type(model).__name__,
        train_class_counts=counts,
        many_threshold=many,
        few_threshold=few,
    )

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    if plots:
        written["confusion_matrix"] = plot_confusion_matrix(
            logits, labels, output_dir / "confusion_matrix.png", num_classes=num_classes, class_names=class_names
        )
        written["per_class_accuracy"] = plot_per_class_accuracy(
            result["per_class_accuracy"],
            counts,
            output_dir / "per_class_accuracy.png",
            many=many,
            few=few,
            class_names=class_names,
        )
        if nc is not None:
            written["class_mean_angles"] = plot_class_mean_angles(
                nc["class_mean_cosines"], output_dir / "class_mean_angles.png", class_names=class_names
            )
            if tsne_samples > 0:
                written["tsne"] = plot_tsne(
                    features,
                    labels,
                    output_dir / "tsne.png",
                    weight=None if weight is None else weight.cpu(),
                    max_samples=tsne_samples,
                    seed=seed,
                    class_names=class_names,
                )
            etf = model.get_target_etf() if hasattr(model, "get_target_etf") else None
            if etf is not None:
                written.update(
                    _transport_plots(
                        features,
                        labels,
                        etf,
                        output_dir,
                        epsilon=transport_epsilon,
                        batch=64,
                        seed=seed,
                        class_names=class_names,
                    )
                )
    result["plots"] = written
    result = to_jsonable(result)
    (output_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
