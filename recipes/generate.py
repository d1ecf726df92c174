"""Write every recipe YAML of `recipes/` and the catalogue tables of `recipes/README.md` from the tables below.

The recipes are data: one flat YAML mapping per experiment whose keys are fields of `DataArguments`,
`ModelArguments` (`ltnc_hf/train.py`) and `LtncTrainingArguments` (`ltnc_hf/trainer/ltnc_config.py`). This script
holds the papers' hyper-parameters once (the `SETTINGS` and `METHODS` tables) and the papers' reported numbers
(`PAPER`), and expands them into the catalogue. Edit the tables, then run

    python recipes/generate.py            # rewrite the YAMLs and the README catalogue
    python recipes/generate.py --check    # exit 1 if a file on disk differs from what the tables give

`tests/test_recipes.py` checks that re-running the script reproduces the committed files byte for byte.
Only the text between the catalogue markers of `recipes/README.md` is generated; the rest of the README is prose.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RECIPES_DIR = Path(__file__).resolve().parent
README = RECIPES_DIR / "README.md"
BEGIN = "<!-- catalogue:begin (written by recipes/generate.py; edit the tables there) -->"
END = "<!-- catalogue:end -->"

# ---------------------------------------------------------------------------------------------------------------------
# Launchers
# ---------------------------------------------------------------------------------------------------------------------
_ACCELERATE = "accelerate launch --config_file recipes/accelerate/{config}.yaml -m ltnc_hf.train --config {{path}}"
LAUNCH = {
    "single_gpu": _ACCELERATE.format(config="single_gpu"),
    "multi_gpu_4": _ACCELERATE.format(config="multi_gpu_4"),
    "cpu": "ltnc-hf train --config {path}",
}

# ---------------------------------------------------------------------------------------------------------------------
# Settings: dataset + backbone + schedule of one block of the papers' experiments
# ---------------------------------------------------------------------------------------------------------------------
_SGD = {"optim": "sgd", "optim_args": "momentum=0.9"}

# DisA (ICML 2024) Sec. 5.1 + Table 8 + the official code: SGD momentum 0.9, lr 0.1, batch 128, wd 2e-4, 200 epochs,
# 5-epoch linear warm-up, x0.1 at epochs 160 and 180 (0-based), mixup alpha 1, DRW (beta 0.9999) from epoch 160.
_CIFAR_SCHEDULE = {
    **_SGD,
    "learning_rate": 0.1,
    "weight_decay": 2e-4,
    "per_device_train_batch_size": 128,
    "num_train_epochs": 200,
    "lr_warmup_epochs": 5,
    "lr_step_epochs": "160,180",
}
_CIFAR_RUN = {
    "seed": 0,
    "per_device_eval_batch_size": 512,
    "dataloader_num_workers": 4,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "logging_steps": 50,
}
# DisA Sec. 5.1 + Table 9: 200 epochs (180 for ETF-DR), global batch 128 on four GPUs, lr 0.1 with cosine decay to 0,
# wd 5e-4, mixup. 32 images per GPU x 4 GPUs (recipes/accelerate/multi_gpu_4.yaml) = 128.
_IMAGENET_SCHEDULE = {
    **_SGD,
    "learning_rate": 0.1,
    "weight_decay": 5e-4,
    "per_device_train_batch_size": 32,
    "num_train_epochs": 200,
    "lr_scheduler_type": "cosine",
}
_LARGE_RUN = {
    "seed": 0,
    "per_device_eval_batch_size": 256,
    "dataloader_num_workers": 8,
    "eval_strategy": "steps",
    "eval_steps": 0.1,
    "save_strategy": "steps",
    "save_steps": 0.1,
    "save_total_limit": 1,
    "logging_steps": 100,
}
# Places-LT: the DisA paper (Table 5) gives no schedule. We use the Places-LT protocol of OLTR / Decoupling / BALMS:
# ImageNet-pretrained ResNet-152, 30 epochs, lr 0.01, wd 5e-4, cosine, batch 256 (64 per GPU x 4); DRW from 4/5 of
# training as on CIFAR (epoch 24); mixup alpha 0.2 as in the ImageNet recipes.
_PLACES_SCHEDULE = {
    **_SGD,
    "learning_rate": 0.01,
    "weight_decay": 5e-4,
    "per_device_train_batch_size": 64,
    "num_train_epochs": 30,
    "lr_scheduler_type": "cosine",
}
# Fashion-MNIST-LT on CPU: the CIFAR recipe shrunk to 10 epochs (warm-up 1, x0.1 at 8 and 9, DRW from 8).
_FMNIST_SCHEDULE = {
    **_SGD,
    "learning_rate": 0.1,
    "weight_decay": 2e-4,
    "per_device_train_batch_size": 128,
    "num_train_epochs": 10,
    "lr_warmup_epochs": 1,
    "lr_step_epochs": "8,9",
}
_FMNIST_RUN = {
    "seed": 0,
    "use_cpu": True,
    "per_device_eval_batch_size": 512,
    "dataloader_num_workers": 0,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "logging_steps": 20,
}


@dataclass(frozen=True)
class Setting:
    """One block of experiments: where the recipes go, the data, the backbone and the schedule."""

    folder: str  # recipes/<folder>/<name>.yaml
    title: str  # "CIFAR-10-LT", shown in comments and the README
    rho: str  # "100", or the dataset's own ratio for fixed splits
    paper_key: str  # key into PAPER
    launcher: str
    data: dict[str, Any]
    model: dict[str, Any]
    schedule: dict[str, Any]
    run: dict[str, Any]
    mixup_alpha: float
    drw_start_epoch: int
    backbone_label: str
    source: str  # where the schedule comes from, shown in the optimisation comment
    # per-method overrides of the schedule, e.g. INC's own weight decay (see METHOD_OVERRIDES)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    crt: dict[str, Any] = field(default_factory=dict)  # schedule of the cRT stage
    crt_source: str = ""


def _cifar(name: str, rho: int) -> Setting:
    k = 10 if name == "cifar10" else 100
    model = {"backbone": "cifar_resnet32"}
    backbone_label = "ResNet-32 (d = 64)"
    if k == 100:
        # The DisA and ETF-DR code run every CIFAR-100 method on a ResNet-32 with widths 32/64/128 (d = 128 >= K).
        model["backbone_kwargs"] = {"width": 32}
        backbone_label = "ResNet-32, width 32 (d = 128)"
    return Setting(
        folder=f"{name}_lt/rho{rho}",
        title=f"CIFAR-{k}-LT",
        rho=str(rho),
        paper_key=f"{name}/{rho}",
        launcher="single_gpu",
        data={
            "dataset": name,
            "imbalance_factor": rho,
            "lt_profile": "exp",
            "lt_selection": "ldam",
            "lt_seed": 0,
            "train_transform": "cifar",
            "image_size": 32,
        },
        model=model,
        schedule=_CIFAR_SCHEDULE,
        run=_CIFAR_RUN,
        mixup_alpha=1.0,
        drw_start_epoch=160,
        backbone_label=backbone_label,
        source="DisA Sec. 5.1, Table 8 and official code",
        # DisA Table 8: INC's own runs use weight decay 5e-3; INC + DisA uses the DisA setting (2e-4).
        overrides={"inc": {"weight_decay": 5e-3}},
        # INC code (train_cifar_DP.py): cRT trains a fresh linear head with class-aware sampling, lr 0.1,
        # no weight decay, x0.1 at epochs 10 and 15, 50 epochs.
        crt={
            **_SGD,
            "learning_rate": 0.1,
            "weight_decay": 0.0,
            "per_device_train_batch_size": 128,
            "num_train_epochs": 50,
            "lr_step_epochs": "10,15",
        },
        crt_source="cRT of the INC code, train_cifar_DP.py",
    )


def _fmnist(rho: int) -> Setting:
    return Setting(
        folder=f"fmnist_lt/rho{rho}",
        title="Fashion-MNIST-LT",
        rho=str(rho),
        paper_key="",
        launcher="cpu",
        data={
            "dataset": "fashion_mnist",
            "imbalance_factor": rho,
            "lt_profile": "exp",
            "lt_selection": "ldam",
            "lt_seed": 0,
            "train_transform": "basic",
            "image_size": 28,
        },
        model={"backbone": "cifar_resnet8", "backbone_kwargs": {"in_chans": 1}},
        schedule=_FMNIST_SCHEDULE,
        run=_FMNIST_RUN,
        mixup_alpha=1.0,
        drw_start_epoch=8,
        backbone_label="ResNet-8, 1 channel (d = 64)",
        source="the CIFAR-LT recipe shrunk for CPU",
        overrides={"inc": {"weight_decay": 5e-3}},
        crt={
            **_SGD,
            "learning_rate": 0.1,
            "weight_decay": 0.0,
            "per_device_train_batch_size": 128,
            "num_train_epochs": 3,
            "lr_step_epochs": "1,2",
        },
        crt_source="the CIFAR-LT cRT stage shrunk for CPU",
    )


_IMAGENET_DATA = {
    "dataset": "imagenet_lt",
    "imbalance_factor": None,
    "data_dir": "data/imagenet",
    "train_transform": "imagenet",
    "image_size": 224,
    "eval_split": "test",
}
_IMAGENET_CRT = {
    **_SGD,
    "learning_rate": 0.005,
    "weight_decay": 5e-4,
    "per_device_train_batch_size": 64,
    "num_train_epochs": 10,
    "lr_scheduler_type": "cosine",
}


def _imagenet(arch: str) -> Setting:
    resnet50 = arch == "resnet50"
    return Setting(
        folder=f"imagenet_lt/{arch}",
        title="ImageNet-LT",
        rho="256",
        paper_key=f"imagenet_lt/{arch}",
        launcher="multi_gpu_4",
        # DisA Table 9: the ResNeXt-50 INC runs (with and without DisA) add RandAugment to mixup
        data=_IMAGENET_DATA
        if resnet50
        else {**_IMAGENET_DATA, "transform_kwargs": '{"auto_augment": "rand-m9-mstd0.5-inc1"}'},
        model={"backbone": "resnet50" if resnet50 else "resnext50_32x4d"},
        schedule=_IMAGENET_SCHEDULE,
        run=_LARGE_RUN,
        mixup_alpha=0.2,
        drw_start_epoch=160,
        backbone_label="ResNet-50" if resnet50 else "ResNeXt-50 (32x4d)",
        source="DisA Sec. 5.1 and Table 9",
        overrides={
            # DisA Table 9: ETF-DR trains 180 epochs with d = 4096 (a projection after the 2048-d pool); the ETF-DR
            # paper's own runs use batch 1024 (256 x 4 GPUs here), + DisA batch 128.
            "etf": {"num_train_epochs": 180, "projection_dim": 4096},
            "etf_baseline": {"per_device_train_batch_size": 256},
            # DisA Table 9: INC's own runs use batch 256, lr 0.05, wd 5e-3; INC + DisA batch 128, lr 0.1, wd 5e-4.
            "inc": {"per_device_train_batch_size": 64, "learning_rate": 0.05, "weight_decay": 5e-3},
        },
        # INC code (train_cls.py): 10 epochs, class-aware sampling, batch 256, lr 0.1 x 0.05 with cosine, wd 5e-4.
        crt=_IMAGENET_CRT,
        crt_source="cRT of the INC code, train_cls.py",
    )


def _places() -> Setting:
    return Setting(
        folder="places_lt/resnet152",
        title="Places-LT",
        rho="996",
        paper_key="places_lt/resnet152",
        launcher="multi_gpu_4",
        data={
            "dataset": "places_lt",
            "imbalance_factor": None,
            "data_dir": "data/places365",
            "train_transform": "imagenet",
            "image_size": 224,
            "eval_split": "test",
        },
        model={"backbone": "resnet152.tv_in1k", "pretrained_backbone": True},
        schedule=_PLACES_SCHEDULE,
        run=_LARGE_RUN,
        mixup_alpha=0.2,
        drw_start_epoch=24,
        backbone_label="ResNet-152 (ImageNet-pretrained)",
        source="the OLTR / Decoupling / BALMS Places-LT protocol; the DisA paper gives none",
    )


# ---------------------------------------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------------------------------------
_DRW = {"drw": True, "drw_beta": 0.9999}  # + drw_start_epoch from the setting
_INC = {"inc": True, "inc_nc1_weight": 0.01, "inc_nc2_weight": 0.1}  # INC: CE + 0.01 NC1 + 0.1 NC2
_LDAM = {"head": "cosine", "loss_type": "ldam", "ldam_max_margin": 0.5, "ldam_scale": 30.0}
_DISA = {"disa": True, "disa_weight": 0.1, "disa_epsilon": 1.0}  # DisA: lambda 0.1, epsilon 1

# stem -> (label, fields); "+ DisA" variants are derived in `_method_fields`.
BASE_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "ce": ("CE", {"head": "linear", "loss_type": "ce"}),
    "ce_drw": ("CE-DRW", {"head": "linear", "loss_type": "ce", **_DRW}),
    "ldam": ("LDAM", dict(_LDAM)),
    "ldam_drw": ("LDAM-DRW", {**_LDAM, **_DRW}),
    "balms": ("BALMS", {"head": "linear", "loss_type": "balanced_softmax"}),
    "focal": ("Focal", {"head": "linear", "loss_type": "focal", "focal_gamma": 2.0}),
    "cb_softmax": ("CB-Softmax", {"head": "linear", "loss_type": "cb_softmax", "cb_beta": 0.999}),
    "cb_sigmoid": ("CB-Sigmoid", {"head": "linear", "loss_type": "cb_sigmoid", "cb_beta": 0.999}),
    "etf_ce": ("ETF-CE", {"head": "etf", "loss_type": "ce"}),
    "etf_dr": ("ETF-DR", {"head": "etf", "loss_type": "dot_regression"}),
    "inc_drw": ("INC-DRW", {"head": "linear", "loss_type": "ce", **_DRW, **_INC}),
}
# ARB with global class counts is the Balanced-Softmax loss (DisA Appendix A, eq. 18).
_SPA_BASES = {"ce": ("CE", "ce"), "arb": ("ARB", "balanced_softmax"), "etf_dr": ("ETF-DR", "dot_regression")}
_SPA_MODES = {"reg": "SpA-Reg", "slerp": "SpA-SLERP", "proj": "SpA-Proj"}
# SLERP and Proj edit a learnable classifier: with the fixed ETF of ETF-DR only SpA-Reg applies (SpA Tables 1-2).
_SPA_BASE_MODES = {"ce": tuple(_SPA_MODES), "arb": tuple(_SPA_MODES), "etf_dr": ("reg",)}

# Which methods each block runs (the rows the papers report). cRT stages are added for every "inc_drw" entry.
_CIFAR_DISA = [
    "ce",
    "ce_drw",
    "ldam",
    "ldam_drw",
    "balms",
    "focal",
    "cb_softmax",
    "cb_sigmoid",
    "etf_ce",
    "etf_dr",
    "inc_drw",
]


@dataclass(frozen=True)
class Recipe:
    path: str  # recipes/...yaml, relative to the repository root
    setting: Setting
    stem: str
    label: str
    fields: dict[str, Any]
    comment: list[str]
    paper: str


def _method_fields(setting: Setting, base: str, disa: bool) -> dict[str, Any]:
    fields = dict(BASE_METHODS[base][1])
    if fields.get("drw"):
        fields["drw_start_epoch"] = setting.drw_start_epoch
    if disa:
        fields.update(_DISA)
        if fields["head"] != "etf":
            fields["disa_target_etf"] = True  # a frozen target ETF next to the learnable head
    return fields


def _schedule(setting: Setting, base: str, disa: bool) -> dict[str, Any]:
    schedule = dict(setting.schedule)
    over = setting.overrides
    if base.startswith("etf"):
        schedule.update(over.get("etf", {}))
        if not disa:
            schedule.update(over.get("etf_baseline", {}))
    if base.startswith("inc") and not disa:
        schedule.update(over.get("inc", {}))
    return schedule


def _paper(setting: Setting, stem: str) -> str:
    entries = PAPER.get(setting.paper_key, {}).get(stem, [])
    return "; ".join(entries) if entries else ""


def _output_dir(setting: Setting, stem: str) -> str:
    return f"outputs/{setting.folder}/{stem}"


def _recipe(setting: Setting, stem: str, label: str, fields: dict[str, Any], notes: list[str]) -> Recipe:
    path = f"recipes/{setting.folder}/{stem}.yaml"
    paper = _paper(setting, stem)
    comment = [
        f"{setting.title} ({_rho_text(setting)}) | {label} | {setting.backbone_label}",
        f"Paper: {paper}" if paper else "Paper: no number reported for this row.",
        *notes,
        "Launch: " + LAUNCH[setting.launcher].format(path=path),
        "Written by recipes/generate.py from its tables: edit them there and re-run it.",
    ]
    return Recipe(path, setting, stem, label, fields, comment, paper)


def _rho_text(setting: Setting) -> str:
    if setting.data.get("imbalance_factor") is None:
        return f"fixed split, rho = {setting.rho}"
    return f"rho = {setting.rho}"


def _train_recipe(setting: Setting, base: str, disa: bool) -> Recipe:
    label, _ = BASE_METHODS[base]
    stem = base + ("_disa" if disa else "")
    label = label + (" + DisA" if disa else "")
    method = _method_fields(setting, base, disa)
    schedule = _schedule(setting, base, disa)
    model = dict(setting.model)
    model.update({k: method.pop(k) for k in ("head", "disa_target_etf") if k in method})
    if "projection_dim" in schedule:
        model["projection_dim"] = schedule.pop("projection_dim")
    fields = {
        **setting.data,
        **model,
        **method,
        "mixup_alpha": setting.mixup_alpha,
        **schedule,
        **setting.run,
        "output_dir": _output_dir(setting, stem),
    }
    return _recipe(setting, stem, label, fields, [])


def _crt_recipe(setting: Setting, first_stem: str, disa: bool) -> Recipe:
    stem = first_stem.replace("inc_drw", "inc_drw_crt")
    label = "INC-DRW-cRT" + (" + DisA" if disa else "")
    first = _output_dir(setting, first_stem)
    model = {"model_name_or_path": f"{first}/final"}
    if "in_chans" in setting.model.get("backbone_kwargs", {}):
        # the training script reads the input channels of the image transforms from backbone_kwargs
        model["backbone_kwargs"] = {"in_chans": setting.model["backbone_kwargs"]["in_chans"]}
    fields = {
        **setting.data,
        **model,
        "stage": "crt",
        "loss_type": "ce",
        "sampler": "class_balanced",
        **setting.crt,
        **setting.run,
        "output_dir": _output_dir(setting, stem),
    }
    notes = [
        f"Second stage: run recipes/{setting.folder}/{first_stem}.yaml first; this re-trains its classifier.",
        f"The classifier is re-initialised and trained on the frozen backbone ({setting.crt_source}).",
    ]
    return _recipe(setting, stem, label, fields, notes)


def _spa_recipe(setting: Setting, base: str, mode: str) -> Recipe:
    base_label, loss = _SPA_BASES[base]
    stem = f"{base}_spa_{mode}"
    label = f"{base_label} + {_SPA_MODES[mode]}"
    schedule = _schedule(setting, base, False)
    model = {**setting.model, "head": "etf" if base == "etf_dr" else "linear"}
    if "projection_dim" in schedule:
        model["projection_dim"] = schedule.pop("projection_dim")
    fields = {
        **setting.data,
        **model,
        "loss_type": loss,
        "spa": mode,
        "mixup_alpha": setting.mixup_alpha,
        **schedule,
        **setting.run,
        "output_dir": _output_dir(setting, stem),
    }
    notes = ["SpA options (spa_*) stay at the LtncTrainingArguments defaults: the SpA paper gives no values."]
    if base == "etf_dr":
        # the ETF is fixed: the regulariser can only act through the class means of the features
        fields["spa_reg_feature_grad"] = True
        notes.append("With the fixed ETF head SpA-Reg acts through the features (spa_reg_feature_grad: true).")
    if base == "arb":
        notes.append("ARB with global class counts is the Balanced-Softmax loss (DisA, Appendix A, eq. 18).")
    return _recipe(setting, stem, label, fields, notes)


def _block(setting: Setting, bases: list[str], spa: bool, disa_variants: bool = True) -> list[Recipe]:
    recipes = []
    for base in bases:
        for disa in (False, True) if disa_variants else (False,):
            recipes.append(_train_recipe(setting, base, disa))
            if base == "inc_drw":
                recipes.append(_crt_recipe(setting, recipes[-1].stem, disa))
    if spa:
        for base in _SPA_BASES:
            for mode in _SPA_BASE_MODES[base]:
                recipes.append(_spa_recipe(setting, base, mode))
    return recipes


def catalogue() -> list[Recipe]:
    """Every recipe, in README order."""
    recipes: list[Recipe] = []
    for name in ("cifar10", "cifar100"):
        for rho in (200, 100, 50, 10):
            # SpA (AAAI 2026) Table 1 reports rho 200, 100 and 50.
            recipes += _block(_cifar(name, rho), _CIFAR_DISA, spa=rho != 10)
    recipes += _block(_imagenet("resnet50"), ["ce", "ce_drw", "ldam_drw", "etf_dr"], spa=True)
    recipes += [_train_recipe(_imagenet("resnet50"), "balms", False)]  # the ARB baseline of SpA Table 2
    recipes += _block(_imagenet("resnext50_32x4d"), ["inc_drw"], spa=False)
    recipes += _block(_places(), ["ce", "ce_drw", "ldam_drw", "balms"], spa=False)
    for rho in (100, 1000):
        recipes += _block(_fmnist(rho), _CIFAR_DISA, spa=True)
    return recipes


# ---------------------------------------------------------------------------------------------------------------------
# The papers' numbers, copied from the tables (top-1 accuracy, %). Markers as printed: * reproduced by the authors,
# † taken from Yang et al. (2022). ImageNet-LT / Places-LT: All (Many / Medium / Few).
# ---------------------------------------------------------------------------------------------------------------------
_RHOS = (200, 100, 50, 10)


def _row(table: str, values: str, rhos=_RHOS, suffix: str = "") -> dict[int, str]:
    out = {}
    for rho, value in zip(rhos, values.split()):
        if value != "/":
            out[rho] = f"{table}{suffix}: {value}"
    return out


def _cifar_paper() -> dict[str, dict[str, list[str]]]:
    d1, d2, d4, s1 = "DisA T1", "DisA T2", "DisA T4", "SpA T1"
    spa_rhos = (200, 100, 50)
    rows = {
        "cifar10": {
            "ce": [_row(d1, "67.3 72.8 78.6 87.7", suffix=" (CE†)"), _row(s1, "70.1 75.4 78.3", spa_rhos, " (CE*)")],
            "ce_disa": [_row(d1, "69.2 74.7 79.6 88.3")],
            "ce_drw": [_row(d1, "75.1 80.9 81.8 88.8", suffix=" (CE-DRW*)")],
            "ce_drw_disa": [_row(d1, "77.7 82.1 84.1 89.8")],
            "ldam": [_row(d4, "68.1 73.9 78.7 86.7")],
            "ldam_disa": [_row(d4, "68.8 74.5 79.5 87.0")],
            "ldam_drw": [_row(d1, "77.1 78.8 82.7 88.2", suffix=" (LDAM-DRW*)")],
            "ldam_drw_disa": [_row(d1, "78.0 80.4 84.8 88.3")],
            "balms": [_row(d4, "77.4 79.6 84.6 88.4"), _row(s1, "79.6 83.3 85.7", spa_rhos, " (ARB)")],
            "balms_disa": [_row(d4, "78.1 81.8 85.1 89.8")],
            "cb_softmax": [_row(d4, "62.8 71.2 78.0 87.4")],
            "cb_softmax_disa": [_row(d4, "63.4 72.1 80.7 88.0")],
            "cb_sigmoid": [_row(d4, "59.1 70.8 78.2 87.1")],
            "cb_sigmoid_disa": [_row(d4, "59.6 71.3 79.0 88.4")],
            "etf_ce": [_row(d1, "60.6 67.0 77.2 87.0")],
            "etf_ce_disa": [_row(d1, "62.4 68.4 78.9 87.8")],
            "etf_dr": [_row(d1, "71.9 76.5 81.0 87.7"), _row(s1, "71.9 76.5 81.0", spa_rhos)],
            "etf_dr_disa": [_row(d1, "73.7 78.5 81.4 87.8"), _row(s1, "73.7 78.5 81.4", spa_rhos)],
            "inc_drw": [_row(d1, "75.8* 81.9 82.7* 89.8"), _row(s1, "75.8 81.9 82.7", spa_rhos)],
            "inc_drw_disa": [_row(d1, "78.7 82.3 84.5 90.2")],
            "inc_drw_crt": [_row(d1, "76.8* 82.6 83.3* 90.2")],
            "inc_drw_crt_disa": [_row(d1, "79.1 82.8 84.9 90.5")],
            "ce_spa_reg": [_row(s1, "71.9 76.3 79.3", spa_rhos)],
            "etf_dr_spa_reg": [_row(s1, "73.0 79.0 82.3", spa_rhos)],
            "ce_spa_slerp": [_row(s1, "71.6 76.5 79.0", spa_rhos)],
            "ce_spa_proj": [_row(s1, "71.7 76.6 79.1", spa_rhos)],
            "arb_spa_reg": [_row(s1, "81.2 84.0 86.7", spa_rhos)],
            "arb_spa_slerp": [_row(s1, "80.7 83.8 86.6", spa_rhos)],
            "arb_spa_proj": [_row(s1, "81.0 84.2 86.4", spa_rhos)],
        },
        "cifar100": {
            "ce": [_row(d2, "38.7† 43.0† 48.1† 58.5*"), _row(s1, "38.5 42.1 48.1", spa_rhos, " (CE*)")],
            "ce_disa": [_row(d2, "39.8 44.5 49.6 63.2")],
            "ce_drw": [_row(d2, "41.5 45.4 51.1 61.5", suffix=" (CE-DRW*)")],
            "ce_drw_disa": [_row(d2, "44.4 49.2 54.0 65.7")],
            "ldam": [_row(d4, "38.2 40.8 44.4 54.6")],
            "ldam_disa": [_row(d4, "38.9 41.3 45.1 54.9")],
            "ldam_drw": [_row(d2, "41.1 45.0 48.8 58.3", suffix=" (LDAM-DRW*)")],
            "ldam_drw_disa": [_row(d2, "43.0 47.0 52.5 64.1")],
            "balms": [_row(d4, "39.2 44.9 49.7 62.0"), _row(s1, "44.5* 47.2 52.6", spa_rhos, " (ARB)")],
            "balms_disa": [_row(d4, "41.8 46.5 51.3 62.8")],
            "cb_softmax": [_row(d4, "36.0 40.0 45.0 56.1")],
            "cb_softmax_disa": [_row(d4, "38.2 41.9 47.3 57.1")],
            "cb_sigmoid": [_row(d4, "35.2 39.2 44.8 56.3")],
            "cb_sigmoid_disa": [_row(d4, "38.3 41.2 47.1 57.6")],
            "etf_ce": [_row(d2, "35.4 40.0 44.1 60.7", suffix=" (ETF-CE*)")],
            "etf_ce_disa": [_row(d2, "36.5 40.7 45.2 61.2")],
            "etf_dr": [_row(d2, "40.9 45.3 50.4 /"), _row(s1, "40.9 45.3 50.4", spa_rhos)],
            "etf_dr_disa": [_row(d2, "41.5 45.9 51.0 63.4"), _row(s1, "41.5 45.9 51.1", spa_rhos)],
            "inc_drw": [_row(d2, "42.5* 48.6 51.7* 63.1"), _row(s1, "42.5 48.6 51.7", spa_rhos)],
            "inc_drw_disa": [_row(d2, "44.8 49.7 54.2 65.7")],
            "inc_drw_crt": [_row(d2, "42.8* 48.7 51.8* 63.6")],
            "inc_drw_crt_disa": [_row(d2, "45.2 49.8 54.4 65.9")],
            "ce_spa_reg": [_row(s1, "39.9 44.3 49.2", spa_rhos)],
            "etf_dr_spa_reg": [_row(s1, "41.6 46.3 50.9", spa_rhos)],
            "ce_spa_slerp": [_row(s1, "39.1 43.1 48.9", spa_rhos)],
            "ce_spa_proj": [_row(s1, "39.4 43.3 48.6", spa_rhos)],
            "arb_spa_reg": [_row(s1, "45.6 51.1 55.2", spa_rhos)],
            "arb_spa_slerp": [_row(s1, "44.7 49.8 54.2", spa_rhos)],
            "arb_spa_proj": [_row(s1, "45.1 49.8 54.1", spa_rhos)],
        },
    }
    paper: dict[str, dict[str, list[str]]] = {}
    for name, stems in rows.items():
        for stem, per_table in stems.items():
            for by_rho in per_table:
                for rho, text in by_rho.items():
                    paper.setdefault(f"{name}/{rho}", {}).setdefault(stem, []).append(text)
    return paper


def _shots(table: str, many: str, med: str, few: str, all_: str, note: str = "") -> str:
    if many == "/":
        return f"{table}{note}: {all_}"
    return f"{table}{note}: {all_} ({many} / {med} / {few})"


PAPER: dict[str, dict[str, list[str]]] = {
    **_cifar_paper(),
    "imagenet_lt/resnet50": {
        "ce": [_shots("DisA T3", "68.4", "37.8", "4.8", "44.3", " (CE*)"), "SpA T2: 44.3 (CE*)"],
        "ce_disa": [_shots("DisA T3", "67.7", "38.6", "7.3", "44.8")],
        "ldam_drw": [_shots("DisA T3", "57.4", "47.2", "23.8", "47.7"), "SpA T2: 47.7"],
        "ldam_drw_disa": [_shots("DisA T3", "57.5", "48.5", "25.5", "48.6"), "SpA T2: 48.5"],
        "ce_drw": [_shots("DisA T3", "53.8", "47.4", "28.8", "47.1", " (CE-DRW*)"), "SpA T2: 47.1"],
        "ce_drw_disa": [_shots("DisA T3", "64.4", "51.4", "27.7", "53.2")],
        "etf_dr": [
            _shots("DisA T3", "66.8", "37.5", "10.6", "44.5", " (ETF-DR*)"),
            _shots("DisA T3", "/", "/", "/", "44.7"),
            "SpA T2: 44.7",
        ],
        "etf_dr_disa": [_shots("DisA T3", "65.2", "39.9", "12.8", "45.3")],
        "balms": ["SpA T2: 52.8 (ARB)"],
        "ce_spa_reg": ["SpA T2: 44.8"],
        "etf_dr_spa_reg": ["SpA T2: 45.3"],
        "ce_spa_slerp": ["SpA T2: 44.7"],
        "ce_spa_proj": ["SpA T2: 44.8"],
        "arb_spa_reg": ["SpA T2: 53.2"],
        "arb_spa_slerp": ["SpA T2: 53.1"],
        "arb_spa_proj": ["SpA T2: 53.6"],
    },
    "imagenet_lt/resnext50_32x4d": {
        "inc_drw": [
            _shots("DisA T3", "66.4", "48.5", "28.7", "52.7", " (INC-DRW*)"),
            _shots("DisA T3", "67.1", "49.7", "29.0", "53.6"),
            "SpA T2: 53.0",
        ],
        "inc_drw_disa": [_shots("DisA T3", "67.6", "49.2", "31.6", "53.9")],
        "inc_drw_crt": [_shots("DisA T3", "65.6", "51.2", "35.4", "54.2"), "SpA T2: 54.5"],
        "inc_drw_crt_disa": [_shots("DisA T3", "65.0", "52.1", "33.0", "54.5")],
    },
    "places_lt/resnet152": {
        "ce": [_shots("DisA T5", "45.2", "21.7", "5.2", "26.9")],
        "ce_disa": [_shots("DisA T5", "45.7", "23.3", "5.8", "28.0")],
        "ce_drw": [_shots("DisA T5", "40.8", "35.6", "22.1", "34.9")],
        "ce_drw_disa": [_shots("DisA T5", "41.6", "36.7", "23.0", "35.8")],
        "ldam_drw": [_shots("DisA T5", "37.0", "34.9", "18.8", "32.5")],
        "ldam_drw_disa": [_shots("DisA T5", "37.4", "35.7", "19.1", "33.0")],
        "balms": [_shots("DisA T5", "41.2", "36.5", "24.3", "35.8")],
        "balms_disa": [_shots("DisA T5", "41.6", "37.4", "24.8", "36.5")],
    },
}

# Our numbers (top-1 %, final model on the evaluation split), recipe path -> text. Filled from benchmark runs.
OUR_NUMBERS: dict[str, str] = {}

# ---------------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------------
_SECTIONS = [
    (
        "data",
        [
            "dataset",
            "imbalance_factor",
            "data_dir",
            "lt_profile",
            "lt_selection",
            "lt_seed",
            "train_transform",
            "transform_kwargs",
            "image_size",
            "eval_split",
        ],
    ),
    (
        "model",
        [
            "model_name_or_path",
            "backbone",
            "backbone_kwargs",
            "pretrained_backbone",
            "head",
            "projection_dim",
            "disa_target_etf",
        ],
    ),
    (
        "method",
        [
            "stage",
            "loss_type",
            "focal_gamma",
            "cb_beta",
            "ldam_max_margin",
            "ldam_scale",
            "sampler",
            "mixup_alpha",
            "drw",
            "drw_start_epoch",
            "drw_beta",
            "inc",
            "inc_nc1_weight",
            "inc_nc2_weight",
            "disa",
            "disa_weight",
            "disa_epsilon",
            "spa",
            "spa_reg_feature_grad",
        ],
    ),
    (
        "optimisation",
        [
            "optim",
            "optim_args",
            "learning_rate",
            "weight_decay",
            "per_device_train_batch_size",
            "num_train_epochs",
            "lr_scheduler_type",
            "lr_warmup_epochs",
            "lr_step_epochs",
        ],
    ),
    (
        "run",
        [
            "seed",
            "use_cpu",
            "per_device_eval_batch_size",
            "dataloader_num_workers",
            "eval_strategy",
            "eval_steps",
            "save_strategy",
            "save_steps",
            "save_total_limit",
            "logging_steps",
            "output_dir",
        ],
    ),
]


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    plain = yaml.safe_load(text) == text and text.strip() == text and "," not in text
    return text if plain else json.dumps(text)


def _section_comment(recipe: Recipe, section: str) -> str:
    setting, fields = recipe.setting, recipe.fields
    if section == "data":
        if fields.get("imbalance_factor") is None:
            return f"data: the published {setting.title} split files (train / val / test); evaluation on test"
        return (
            f"data: long-tailed subset of LDAM-DRW (selection 'ldam', seed {fields['lt_seed']}); "
            "full balanced test set"
        )
    if section == "model" and fields.get("stage") == "crt":
        return "model: the first stage's final checkpoint; its classifier is re-initialised"
    if section == "optimisation":
        source = setting.crt_source if fields.get("stage") == "crt" else setting.source
        return f"optimisation ({source}): " + _schedule_text(setting, fields)
    return section


_PROCESSES = {"single_gpu": 1, "multi_gpu_4": 4, "cpu": 1}


def _schedule_text(setting: Setting, fields: dict[str, Any]) -> str:
    """A one-line summary of the optimisation fields, written from their values."""
    momentum = fields["optim_args"].split("=")[1]
    processes = _PROCESSES[setting.launcher]
    batch = fields["per_device_train_batch_size"]
    batch_text = f"batch {batch}" if processes == 1 else f"batch {batch * processes} ({batch} x {processes} GPUs)"
    parts = [
        f"{fields['optim'].upper()} (momentum {momentum})",
        f"lr {fields['learning_rate']:g}",
        batch_text,
        f"wd {fields['weight_decay']:g}",
        f"{fields['num_train_epochs']} epochs",
    ]
    if fields.get("lr_warmup_epochs"):
        parts.append(f"{fields['lr_warmup_epochs']}-epoch warm-up")
    if fields.get("lr_step_epochs"):
        parts.append("x0.1 at epochs " + " and ".join(fields["lr_step_epochs"].split(",")))
    if fields.get("lr_scheduler_type"):
        parts.append(f"{fields['lr_scheduler_type']} decay")
    if fields.get("sampler"):
        parts.append(f"{fields['sampler'].replace('_', '-')} sampling")
    return ", ".join(parts)


def render_recipe(recipe: Recipe) -> str:
    known = [key for _, keys in _SECTIONS for key in keys]
    unknown = [key for key in recipe.fields if key not in known]
    if unknown:
        raise ValueError(f"{recipe.path}: fields {unknown} have no section in _SECTIONS; add them there.")
    lines = [f"# {line}" for line in recipe.comment]
    for section, keys in _SECTIONS:
        present = [key for key in keys if key in recipe.fields]
        if not present:
            continue
        lines += ["", f"# {_section_comment(recipe, section)}"]
        lines += [f"{key}: {_scalar(recipe.fields[key])}" for key in present]
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != recipe.fields:
        raise AssertionError(f"{recipe.path}: the YAML text does not read back as its fields.")
    return text


def _group_title(setting: Setting) -> str:
    if setting.data.get("imbalance_factor") is None:
        return f"{setting.title}, {setting.backbone_label}"
    return f"{setting.title}, rho = {setting.rho}"


def render_catalogue(recipes: list[Recipe]) -> str:
    lines = [BEGIN, "", f"{len(recipes)} recipes."]
    group = None
    for recipe in recipes:
        title = _group_title(recipe.setting)
        if title != group:
            group = title
            lines += [
                "",
                f"### {title}",
                "",
                "| recipe | method | dataset / rho | backbone | paper | ours | launch |",
                "|---|---|---|---|---|---|---|",
            ]
        setting = recipe.setting
        name = recipe.path[len("recipes/") :]
        launch = LAUNCH[setting.launcher].format(path=recipe.path)
        ours = OUR_NUMBERS.get(recipe.path, "—")
        cells = [
            f"[`{name}`]({name})",
            recipe.label,
            f"{setting.title} / {setting.rho}",
            setting.backbone_label,
            recipe.paper or "—",
            ours,
            f"`{launch}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", END]
    return "\n".join(lines)


def render_all() -> dict[Path, str]:
    """Every generated file: path -> exact text."""
    recipes = catalogue()
    paths = [r.path for r in recipes]
    if len(set(paths)) != len(paths):
        raise AssertionError("two recipes share a path")
    repo = RECIPES_DIR.parent
    files = {repo / r.path: render_recipe(r) for r in recipes}
    readme = README.read_text(encoding="utf-8")
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"{README} must contain the markers {BEGIN!r} and {END!r} once each.")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    files[README] = head + render_catalogue(recipes) + tail
    return files


def generated_yaml_files() -> set[Path]:
    """The recipe YAMLs on disk that this script owns (everything under recipes/ but accelerate/)."""
    return {p for p in RECIPES_DIR.rglob("*.yaml") if "accelerate" not in p.relative_to(RECIPES_DIR).parts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only check that the files on disk are up to date.")
    args = parser.parse_args(argv)
    files = render_all()
    stale = sorted(generated_yaml_files() - set(files))
    changed = sorted(p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text)
    if args.check:
        for p in changed:
            print(f"out of date: {p}")
        for p in stale:
            print(f"not in the tables: {p}")
        return 1 if changed or stale else 0
    for p in stale:
        p.unlink()
    for p in changed:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(files[p], encoding="utf-8")
    print(f"{len(files) - 1} recipes; {len(changed)} file(s) written, {len(stale)} removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
