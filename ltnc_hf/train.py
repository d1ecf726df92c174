"""Train a long-tailed classifier from a YAML recipe: `ltnc-hf train --config recipe.yaml [--field value ...]`.

Also runnable as a module for launchers: `accelerate launch -m ltnc_hf.train --config recipe.yaml` or
`torchrun --nproc_per_node 4 -m ltnc_hf.train --config recipe.yaml`.

A recipe is one flat YAML mapping whose keys are fields of `DataArguments`, `ModelArguments` and
`LtncTrainingArguments`; `--field value` on the command line overrides the recipe.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from .modeling.heads import ETF_KINDS

logger = logging.getLogger("ltnc_hf.train")


@dataclass
class DataArguments:
    """Which long-tailed dataset to build and how to transform it."""

    dataset: str = field(
        default="fashion_mnist",
        metadata={
            "help": "Dataset builder name (see ltnc_hf.DATASET_BUILDERS), e.g. cifar10, cifar100, fashion_mnist."
        },
    )
    imbalance_factor: float | None = field(
        default=100.0, metadata={"help": "Imbalance ratio rho = n_max / n_min of the training split (None: as is)."}
    )
    data_dir: str | None = field(default=None, metadata={"help": "Local copy of the dataset (else the Hub)."})
    lt_profile: str = field(default="exp", metadata={"help": "Long-tail profile: exp or step."})
    lt_selection: str = field(
        default="ldam", metadata={"help": "Which images each class keeps: ldam (the LDAM-DRW subset), first, random."}
    )
    lt_seed: int = field(default=0, metadata={"help": "Seed of the long-tailed subset (LDAM-DRW uses 0)."})
    train_transform: str = field(default="cifar", metadata={"help": "Training transform (see create_transform)."})
    eval_transform: str | None = field(
        default=None, metadata={"help": "Evaluation transform; defaults to the eval variant of train_transform."}
    )
    image_size: int = field(default=32, metadata={"help": "Input resolution of the model."})
    cutout: int | None = field(default=None, metadata={"help": "Side of the Cutout square (training only)."})
    transform_kwargs: str | None = field(
        default=None,
        metadata={
            "help": "JSON mapping of extra timm create_transform options for the 'imagenet' training transform, e.g. "
            '\'{"auto_augment": "rand-m9-mstd0.5-inc1"}\' (RandAugment).'
        },
    )
    eval_split: str = field(default="test", metadata={"help": "Split used for evaluation."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only this many training images (seeded), for smoke tests."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep only this many evaluation images (seeded), for smoke tests."}
    )


@dataclass
class ModelArguments:
    """The model: a timm (or transformers) backbone with a linear, cosine or fixed-ETF head."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Start from this checkpoint (local folder or Hub id), e.g. for cRT."}
    )
    backbone: str = field(default="cifar_resnet32", metadata={"help": "timm model name, or 'hf:<model id or path>'."})
    backbone_kwargs: str | None = field(
        default=None, metadata={"help": "JSON mapping passed to the backbone, e.g. '{\"in_chans\": 1}'."}
    )
    pretrained_backbone: bool = field(default=False, metadata={"help": "Load pretrained backbone weights."})
    head: str = field(default="linear", metadata={"help": "Classifier head: linear, etf or cosine."})
    projection_dim: int | None = field(default=None, metadata={"help": "Optional projection before the head."})
    feature_norm: str | None = field(
        default=None, metadata={"help": "none, l2 or bn_l2 (default: bn_l2 for the ETF head, none otherwise)."}
    )
    etf_seed: int = field(default=0, metadata={"help": "Seed of the ETF (fixed head and DisA target)."})
    etf_kind: str = field(
        default="simplex",
        metadata={
            "help": "simplex (needs feature_dim >= num_labels) or spread (evenly spread unit vectors, also for more "
            "classes than feature dimensions).",
            "choices": list(ETF_KINDS),
        },
    )
    disa_target_etf: bool = field(
        default=False,
        metadata={"help": "Keep a frozen target ETF next to a learnable head (DisA with a learnable head)."},
    )
    logit_scale: float | None = field(default=None, metadata={"help": "Scale of cosine/ETF logits."})


def _dataclasses():
    from .trainer import LtncTrainingArguments

    return DataArguments, ModelArguments, LtncTrainingArguments


def _field_names() -> dict[str, type]:
    names = {}
    for cls in _dataclasses():
        for f in fields(cls):
            if f.init:
                names[f.name] = cls
    return names


def _check_keys(keys, where: str) -> None:
    valid = _field_names()
    for key in keys:
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(f"Unknown option '{key}' in {where}.{hint} Run `ltnc-hf train --help` for all options.")


def _to_argv(mapping: dict[str, Any]) -> list[str]:
    argv = []
    for key, value in mapping.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = json.dumps(value)
        if isinstance(value, (list, tuple)):
            argv.append(f"--{key}")
            argv.extend(str(v) for v in value)
            continue
        argv.extend([f"--{key}", str(value)])
    return argv


def load_recipe(path: str) -> dict[str, Any]:
    """Read a recipe YAML into a flat mapping, checking every key."""
    if not os.path.isfile(path):
        raise ValueError(f"Recipe {path!r} does not exist; see recipes/README.md for the catalogue.")
    with open(path, encoding="utf-8") as fh:
        recipe = yaml.safe_load(fh) or {}
    if not isinstance(recipe, dict):
        raise ValueError(f"Recipe {path!r} must be a mapping of option: value (got {type(recipe).__name__}).")
    _check_keys(recipe, f"recipe {path}")
    return recipe


def _nullable_fields() -> set[str]:
    import types
    import typing

    names = set()
    for cls in _dataclasses():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            hint = hints.get(f.name)
            if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
                names.add(f.name)
    return names


def _take_nulls(argv: list[str], merged: dict[str, Any]) -> list[str]:
    """`--key null` (or `--key=null`) on the command line means None, as `key: null` does in a recipe.

    The last occurrence of an option wins, as in argparse: `--key null` after `--key 1` gives None, and a value after
    `--key null` (or on the command line after a recipe's `key: null`) gives the value. Returns the command line
    without the options that end up None; `merged` (the recipe) is updated in place.
    """
    groups: list[tuple[str | None, list[str]]] = []  # (key, tokens) in command-line order
    for arg in argv:
        if arg.startswith("--"):
            groups.append((arg[2:].split("=", 1)[0].replace("-", "_"), [arg]))
        elif groups:
            groups[-1][1].append(arg)
        else:
            groups.append((None, [arg]))

    def is_null(tokens: list[str]) -> bool:
        return tokens[1:] == ["null"] or (len(tokens) == 1 and tokens[0].endswith("=null"))

    last_is_null = {key: is_null(tokens) for key, tokens in groups if key is not None}
    nullable = _nullable_fields() if any(last_is_null.values()) else set()
    for key, null in last_is_null.items():
        if null and key not in nullable:
            raise ValueError(f"--{key} cannot be null: give it a value, or leave the option out for its default.")
        if null:
            merged[key] = None
        elif merged.get(key, "") is None:
            del merged[key]  # the command line's value replaces the recipe's null
    kept = []
    for key, tokens in groups:
        if key is not None and (last_is_null[key] or is_null(tokens)):
            continue
        kept.extend(tokens)
    return kept


def parse_args(argv: list[str] | None = None, recipe: dict[str, Any] | None = None):
    """Parse `--config recipe.yaml` plus `--field value` overrides into the three dataclasses."""
    from transformers import HfArgumentParser

    argv = list(sys.argv[1:] if argv is None else argv)
    merged: dict[str, Any] = dict(recipe or {})
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise ValueError("--config needs a path to a recipe YAML.")
        merged.update(load_recipe(argv[i + 1]))
        argv = argv[:i] + argv[i + 2 :]
    override_keys = [a[2:].split("=")[0].replace("-", "_") for a in argv if a.startswith("--")]
    _check_keys(override_keys, "the command line")
    argv = _take_nulls(argv, merged)
    merged.setdefault("output_dir", "outputs/ltnc")
    parser = HfArgumentParser(_dataclasses())
    parsed = parser.parse_args_into_dataclasses(args=_to_argv(merged) + argv)
    # an explicit `key: null` in a recipe means None (argparse cannot spell it)
    for key, value in merged.items():
        if value is None:
            for obj in parsed:
                if any(f.name == key for f in fields(obj)):
                    setattr(obj, key, None)
    return parsed


def _eval_crop_pct(data_args: DataArguments) -> float | None:
    """The evaluation transform's center-crop fraction, for the saved image processor (None: a straight resize)."""
    if (data_args.eval_transform or data_args.train_transform) != "imagenet":
        return None
    from timm.data import DEFAULT_CROP_PCT

    return float(DEFAULT_CROP_PCT)  # what timm's evaluation transform (create_transform, is_training=False) uses


def build_model(model_args: ModelArguments, data_args: DataArguments, num_labels: int, id2label: dict[int, str]):
    from .modeling import LtncConfig, LtncForImageClassification

    if model_args.model_name_or_path:
        model = LtncForImageClassification.from_pretrained(model_args.model_name_or_path)
        if model.config.num_labels != num_labels:
            raise ValueError(
                f"Checkpoint {model_args.model_name_or_path} has num_labels={model.config.num_labels} but the dataset "
                f"has {num_labels} classes."
            )
        return model
    kwargs = {}
    if model_args.feature_norm is not None:
        kwargs["feature_norm"] = model_args.feature_norm
    if model_args.logit_scale is not None:
        kwargs["logit_scale"] = model_args.logit_scale
    backbone_kwargs = json.loads(model_args.backbone_kwargs) if model_args.backbone_kwargs else {}
    config = LtncConfig(
        backbone=model_args.backbone,
        backbone_kwargs=backbone_kwargs,
        pretrained_backbone=model_args.pretrained_backbone,
        num_labels=num_labels,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        head=model_args.head,
        projection_dim=model_args.projection_dim,
        etf_seed=model_args.etf_seed,
        etf_kind=model_args.etf_kind,
        disa_target_etf=model_args.disa_target_etf,
        image_size=data_args.image_size,
        crop_pct=_eval_crop_pct(data_args),
        num_channels=int(backbone_kwargs.get("in_chans", 3)),
        **kwargs,
    )
    return LtncForImageClassification(config)


def build_datasets(data_args: DataArguments, *, seed: int, num_channels: int):
    from .data import create_transform, load_lt_dataset, with_image_transforms
    from .data.builders import FIXED_SPLIT_DATASETS, canonical_dataset_name

    if canonical_dataset_name(data_args.dataset) in FIXED_SPLIT_DATASETS:
        # ImageNet-LT / Places-LT ship their long-tailed split files: no rho, the data folder is the image root
        if data_args.data_dir is None:
            raise ValueError(f"dataset={data_args.dataset!r} needs data_dir= (the image root with the split files).")
        dsd = load_lt_dataset(data_args.dataset, root=data_args.data_dir)
    else:
        dsd = load_lt_dataset(
            data_args.dataset,
            data_args.imbalance_factor,
            data_dir=data_args.data_dir,
            profile=data_args.lt_profile,
            selection=data_args.lt_selection,
            seed=data_args.lt_seed,
        )
    if data_args.eval_split not in dsd:
        raise ValueError(
            f"Dataset {data_args.dataset!r} has no split {data_args.eval_split!r} (splits: {list(dsd)}); "
            "set eval_split."
        )
    train, evaluation = dsd["train"], dsd[data_args.eval_split]
    if data_args.max_train_samples is not None and data_args.max_train_samples < len(train):
        train = train.shuffle(seed=seed).select(range(data_args.max_train_samples))
    if data_args.max_eval_samples is not None and data_args.max_eval_samples < len(evaluation):
        evaluation = evaluation.shuffle(seed=seed).select(range(data_args.max_eval_samples))
    raw = {"train": train, "eval": evaluation}
    extra = json.loads(data_args.transform_kwargs) if data_args.transform_kwargs else {}
    if data_args.cutout:
        extra["cutout"] = data_args.cutout
    train_tf = create_transform(
        data_args.train_transform, train=True, image_size=data_args.image_size, in_chans=num_channels, **extra
    )
    eval_tf = create_transform(
        data_args.eval_transform or data_args.train_transform,
        train=False,
        image_size=data_args.image_size,
        in_chans=num_channels,
    )
    transformed = with_image_transforms(raw, train_tf, eval_tf)
    return raw, transformed


def main(argv: list[str] | None = None, recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, evaluate and save. Returns the final evaluation metrics."""
    from transformers import set_seed

    from .data import class_counts as count_classes
    from .trainer import LtncTrainer

    data_args, model_args, training_args = parse_args(argv, recipe)
    logging.basicConfig(level=logging.INFO if training_args.process_index == 0 else logging.WARNING)
    set_seed(training_args.seed)
    backbone_kwargs = json.loads(model_args.backbone_kwargs) if model_args.backbone_kwargs else {}
    num_channels = int(backbone_kwargs.get("in_chans", 3))
    if model_args.model_name_or_path:  # e.g. cRT: the checkpoint knows its input channels
        from transformers import AutoConfig

        num_channels = int(getattr(AutoConfig.from_pretrained(model_args.model_name_or_path), "num_channels", 3))
    raw, datasets = build_datasets(data_args, seed=training_args.seed, num_channels=num_channels)
    label_feature = raw["train"].features["label"]
    names = getattr(label_feature, "names", None) or [str(i) for i in range(label_feature.num_classes)]
    id2label = dict(enumerate(names))
    counts = count_classes(raw["train"])
    model = build_model(model_args, data_args, len(names), id2label)

    trainer = LtncTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["eval"],
        class_counts=counts,
    )
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=resume if resume else None)
    metrics = trainer.evaluate()
    if trainer.is_world_process_zero():
        finish_run(trainer, raw, datasets, data_args, model_args, counts, metrics)
    return metrics


def finish_run(trainer, raw, datasets, data_args, model_args, counts, metrics) -> None:
    """Save the model with its processor and card, write metrics and plots, and print the accuracy table."""
    from .metrics import evaluate_model
    from .model_card import create_model_card

    args = trainer.args
    final_dir = os.path.join(args.output_dir, "final")
    model = trainer.model
    model.save_pretrained(final_dir)
    report = evaluate_model(
        model,
        datasets["eval"],
        output_dir=os.path.join(args.output_dir, "evaluation"),
        train_class_counts=counts,
        batch_size=args.per_device_eval_batch_size,
        many=args.many_shot_threshold,
        few=args.few_shot_threshold,
    )
    methods = [args.loss_type] + (["drw"] if args.drw else []) + (["disa"] if args.disa else [])
    methods += [f"spa_{m}" for m in args.spa_modes] + (["inc"] if args.inc else [])
    card = create_model_card(
        model_name=os.path.basename(os.path.abspath(args.output_dir)),
        dataset_name=data_args.dataset,
        imbalance_factor=round(max(counts) / max(min(counts), 1), 2),
        results=report,
        method=methods,
        etf_seed=model_args.etf_seed,
        class_counts=counts,
        backbone=model_args.backbone,
        training_args={k: v for k, v in args.to_dict().items() if not k.startswith("_")},
    )
    card.save(os.path.join(final_dir, "README.md"))
    with open(os.path.join(args.output_dir, "metrics.json"), "w", encoding="utf-8") as fh:
        json.dump({"trainer": metrics, "evaluation": report}, fh, indent=2, default=float)
    print(format_accuracy_table(report))


def format_accuracy_table(report: dict[str, Any]) -> str:
    rows = [("all", report.get("accuracy"))]
    for group in ("many", "medium", "few"):
        rows.append((group, report.get(f"{group}_accuracy")))
    lines = ["| split | top-1 accuracy (%) |", "|---|---|"]
    for name, value in rows:
        shown = "n/a (no class in this group)" if value is None or value != value else f"{100 * value:.2f}"
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
