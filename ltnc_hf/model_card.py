"""Model cards for long-tailed classifiers: model-index results per shot group, recipe, method citations, ETF seed."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE_PATH = Path(__file__).parent / "templates" / "model_card.md"

_DISA = """@inproceedings{gao2024disa,
  title     = {Distribution Alignment Optimization through Neural Collapse for Long-tailed Classification},
  author    = {Gao, Jintong and Zhao, He and Guo, Dandan and Zha, Hongyuan},
  booktitle = {Proceedings of the 41st International Conference on Machine Learning (ICML)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {235},
  year      = {2024}
}"""
_SPA = """@inproceedings{wang2026spa,
  title     = {Space Alignment Matters: The Missing Piece for Inducing Neural Collapse in Long-Tailed Learning},
  author    = {Wang, Jinping and Gao, Zhiqiang and Xie, Zhiwu},
  booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
  year      = {2026}
}"""
_LDAM = """@inproceedings{cao2019ldam,
  title     = {Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss},
  author    = {Cao, Kaidi and Wei, Colin and Gaidon, Adrien and Arechiga, Nikos and Ma, Tengyu},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2019}
}"""
_FOCAL = """@inproceedings{lin2017focal,
  title     = {Focal Loss for Dense Object Detection},
  author    = {Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\\'a}r, Piotr},
  booktitle = {IEEE International Conference on Computer Vision (ICCV)},
  year      = {2017}
}"""
_CB = """@inproceedings{cui2019classbalanced,
  title     = {Class-Balanced Loss Based on Effective Number of Samples},
  author    = {Cui, Yin and Jia, Menglin and Lin, Tsung-Yi and Song, Yang and Belongie, Serge},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {9268--9277},
  year      = {2019}
}"""
_BALANCED_SOFTMAX = """@inproceedings{ren2020balancedsoftmax,
  title     = {Balanced Meta-Softmax for Long-Tailed Visual Recognition},
  author    = {Ren, Jiawei and Yu, Cunjun and others},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2020}
}"""
_ETF_DR = """@inproceedings{yang2022inducing,
  title     = {Inducing Neural Collapse in Imbalanced Learning: Do We Really Need a Learnable Classifier at the End of
               Deep Neural Network?},
  author    = {Yang, Yibo and Chen, Shixiang and Li, Xiangtai and Xie, Liang and Lin, Zhouchen and Tao, Dacheng},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2022}
}"""
_INC = """@inproceedings{liu2023inc,
  title     = {Inducing Neural Collapse in Deep Long-tailed Learning},
  author    = {Liu, Xuantong and Zhang, Jianfeng and Hu, Tianyang and Cao, He and Yao, Yuan and Pan, Lujia},
  booktitle = {International Conference on Artificial Intelligence and Statistics (AISTATS)},
  pages     = {11534--11544},
  year      = {2023}
}"""
_ARB = """@article{xie2023arb,
  title   = {Neural Collapse Inspired Attraction-Repulsion-Balanced Loss for Imbalanced Learning},
  author  = {Xie, Liang and Yang, Yibo and Cai, Deng and He, Xiaofei},
  journal = {Neurocomputing},
  volume  = {527},
  pages   = {60--70},
  year    = {2023}
}"""
_RBL = """@inproceedings{peifeng2023rbl,
  title     = {Feature Directions Matter: Long-Tailed Learning via Rotated Balanced Representation},
  author    = {Peifeng, Gao and Xu, Qianqian and Wen, Peisong and Yang, Zhiyong and Shao, Huiyang and Huang, Qingming},
  booktitle = {International Conference on Machine Learning (ICML)},
  pages     = {27542--27563},
  year      = {2023}
}"""
_MIXUP = """@inproceedings{zhang2018mixup,
  title     = {mixup: Beyond Empirical Risk Minimization},
  author    = {Zhang, Hongyi and Cisse, Moustapha and Dauphin, Yann N. and Lopez-Paz, David},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2018}
}"""
_CRT = """@inproceedings{kang2020decoupling,
  title     = {Decoupling Representation and Classifier for Long-Tailed Recognition},
  author    = {Kang, Bingyi and Xie, Saining and Rohrbach, Marcus and Yan, Zhicheng and Gordo, Albert and Feng, Jiashi
               and Kalantidis, Yannis},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2020}
}"""
_NEURAL_COLLAPSE = """@article{papyan2020prevalence,
  title   = {Prevalence of Neural Collapse during the Terminal Phase of Deep Learning Training},
  author  = {Papyan, Vardan and Han, X. Y. and Donoho, David L.},
  journal = {Proceedings of the National Academy of Sciences},
  volume  = {117},
  number  = {40},
  pages   = {24652--24663},
  year    = {2020}
}"""

# method name -> (display name, citation or None)
METHODS: dict[str, tuple[str, str | None]] = {
    "ce": ("cross-entropy", None),
    "focal": ("focal loss", _FOCAL),
    "cb_softmax": ("class-balanced softmax", _CB),
    "cb_sigmoid": ("class-balanced sigmoid", _CB),
    "cb_focal": ("class-balanced focal", _CB),
    "ldam": ("LDAM", _LDAM),
    "drw": ("DRW", _LDAM),
    "balanced_softmax": ("Balanced Softmax", _BALANCED_SOFTMAX),
    "etf": ("fixed simplex-ETF classifier", _ETF_DR),
    "dot_regression": ("ETF + dot-regression loss", _ETF_DR),
    "inc": ("INC", _INC),
    "arb": ("ARB loss", _ARB),
    "rbl": ("RBL", _RBL),
    "disa": ("DisA", _DISA),
    "spa_reg": ("SpA-Reg", _SPA),
    "spa_slerp": ("SpA-Slerp", _SPA),
    "spa_proj": ("SpA-Proj", _SPA),
    "mixup": ("mixup", _MIXUP),
    "crt": ("cRT", _CRT),
}
_ALIASES = {
    "cross_entropy": "ce",
    "cb": "cb_softmax",
    "ldam_drw": "ldam",
    "etf_dr": "dot_regression",
    "dr": "dot_regression",
    "spa": "spa_reg",
    "balms": "balanced_softmax",
}
# result keys -> model-index metric name, in table order
_GROUP_KEYS = (
    ("accuracy", "Top-1 accuracy (all classes)"),
    ("many_accuracy", "Top-1 accuracy (many-shot)"),
    ("medium_accuracy", "Top-1 accuracy (medium-shot)"),
    ("few_accuracy", "Top-1 accuracy (few-shot)"),
)
_EXTRA_KEYS = (("balanced_accuracy", "Balanced accuracy (%)"), ("top5_accuracy", "Top-5 accuracy (%)"))
_NC_KEYS = (
    ("nc1", "NC1 = tr(Σ_W Σ_B⁺)/K"),
    ("nc2_equinorm", "NC2 equinorm (std/mean of ‖μ_k − μ_G‖)"),
    ("nc2_equiangular", "NC2 equiangularity (mean |cos + 1/(K−1)|)"),
    ("nc3", "NC3 self-duality ‖W/‖W‖ − M/‖M‖‖"),
    ("nc4", "NC4 (fraction ≠ nearest class mean)"),
    ("spa_cosine", "Feature–classifier cosine (SpA)"),
    ("trace_within", "Tr(Σ_W)"),
    ("trace_between", "Tr(Σ_B)"),
    ("trace_total", "Tr(Σ_T)"),
)


def _canonical_method(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise ValueError(f"Unknown method {name!r}; expected one of {tuple(METHODS)} (or an alias {tuple(_ALIASES)}).")
    return key


def _flat_results(results: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in results.items():
        for prefix in ("eval_", "test_"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key == "neural_collapse" and isinstance(value, Mapping):
            for nc_key, nc_value in value.items():
                flat.setdefault(nc_key, nc_value)
        else:
            flat[key] = value
    return flat


def _percent(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Accuracies must be fractions in [0, 1] as returned by `long_tail_accuracy`, got {value}.")
    return round(100.0 * value, 2)


def _format_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def create_model_card(
    *,
    model_name: str,
    dataset_name: str,
    imbalance_factor: float | None,
    results: Mapping[str, Any],
    method: Sequence[str] | str = ("ce",),
    recipe: str | None = None,
    etf_seed: int | None = None,
    class_counts: Sequence[int] | None = None,
    backbone: str | None = None,
    base_model: str | None = None,
    training_args: Mapping[str, Any] | None = None,
    dataset_id: str | None = None,
    dataset_split: str = "test",
    repo_id: str | None = None,
    license: str = "apache-2.0",
    tags: Sequence[str] | None = None,
    many: int = 100,
    few: int = 20,
    template_path: str | Path | None = None,
) -> ModelCard:
    """Renders the model card of a long-tailed classifier (`ltnc_hf/templates/model_card.md`, Jinja).

    The YAML front matter holds `license`, `library_name: transformers`, `pipeline_tag`, `tags`, `datasets`,
    `base_model` and a `model-index` whose results are the top-1 accuracies (in %) on all / many / medium / few-shot
    classes of `dataset_name` (dataset `config` = `rho<ρ>`, `args.imbalance_factor` = ρ). The body shows the same
    table, balanced / top-5 accuracy and the neural-collapse diagnostics when present, the method with its
    citations (DisA, SpA, LDAM-DRW, ...), the recipe, the ETF seed, the training arguments and the class counts.

    Args:
        model_name (`str`): Name of the model (model-index name and title).
        dataset_name (`str`): Display name of the dataset, e.g. `"CIFAR-100-LT"`.
        imbalance_factor (`float`, *optional*): ρ = n_max / n_min of the training set (`None` when balanced).
        results (`dict`): Output of `long_tail_accuracy` / `evaluate_model` (fractions in [0, 1]); keys may carry an
            `eval_` / `test_` prefix; NC statistics may be flat or under `"neural_collapse"`. `accuracy` is required.
        method (`str` or `list[str]`, *optional*, defaults to `("ce",)`):
            Components of the method, e.g. `["ldam", "drw", "disa"]`; each adds its citation. Known: `METHODS`.
        recipe (`str`, *optional*): The recipe file the model was trained with.
        etf_seed (`int`, *optional*): Seed of the simplex ETF (ETF heads / DisA targets).
        class_counts (`list[int]`, *optional*): Training images per class.
        backbone (`str`, *optional*): timm / transformers backbone name.
        base_model (`str`, *optional*): Hub id of the pre-trained weights it was fine-tuned from.
        training_args (`dict`, *optional*): Training arguments worth showing (scalars are listed).
        dataset_id (`str`, *optional*): Hub id of the dataset (goes to `datasets` and the model-index type).
        dataset_split (`str`, *optional*, defaults to `"test"`): Split the results come from.
        repo_id (`str`, *optional*): Hub id of the model, for the usage snippet (defaults to `model_name`).
        license (`str`, *optional*, defaults to `"apache-2.0"`): License identifier.
        tags (`list[str]`, *optional*): Extra tags.
        many, few (`int`): Shot-group thresholds used for the results.
        template_path (`str` or `Path`, *optional*): Another Jinja template.

    Returns:
        `huggingface_hub.ModelCard`; `card.save("README.md")` writes it, `card.push_to_hub(repo_id)` uploads it.
    """
    methods = [method] if isinstance(method, str) else list(method)
    if not methods:
        raise ValueError("`method` must name at least one component, e.g. ['ce'] or ['ldam', 'drw', 'disa'].")
    canonical = [_canonical_method(m) for m in methods]
    flat = _flat_results(results)
    if flat.get("accuracy") is None:
        raise ValueError(f"`results` must contain 'accuracy' (from `long_tail_accuracy`); got keys {sorted(flat)}.")
    if imbalance_factor is not None and (not math.isfinite(float(imbalance_factor)) or imbalance_factor < 1):
        raise ValueError(f"`imbalance_factor` must be >= 1 (n_max / n_min), got {imbalance_factor}.")

    rho_str = None
    if imbalance_factor is not None:
        rho = float(imbalance_factor)
        rho_str = str(int(rho)) if rho.is_integer() else f"{rho:g}"
    dataset_type = dataset_id or _slug(dataset_name)
    dataset_args = {"imbalance_factor": float(imbalance_factor)} if imbalance_factor is not None else None
    eval_results = []
    accuracy_row = []
    for key, metric_name in _GROUP_KEYS:
        value = _percent(flat.get(key))
        accuracy_row.append("–" if value is None else f"{value:.2f}")
        if value is None:
            continue
        eval_results.append(
            EvalResult(
                task_type="image-classification",
                task_name="Long-tailed image classification",
                dataset_type=dataset_type,
                dataset_name=dataset_name,
                dataset_config=f"rho{rho_str}" if rho_str else None,
                dataset_split=dataset_split,
                dataset_args=dataset_args,
                metric_type="accuracy",
                metric_name=metric_name,
                metric_value=value,
            )
        )
    extra_results = [
        (name, f"{_percent(flat[k]):.2f}") for k, name in _EXTRA_KEYS if _percent(flat.get(k)) is not None
    ]
    nc_results = [
        (name, _format_number(float(flat[k])))
        for k, name in _NC_KEYS
        if isinstance(flat.get(k), (int, float)) and math.isfinite(float(flat[k]))
    ]

    method_names = [METHODS[m][0] for m in canonical]
    citations: list[str] = []
    for m in canonical:
        citation = METHODS[m][1]
        if citation and citation not in citations:
            citations.append(citation)
    if nc_results and _NEURAL_COLLAPSE not in citations:
        citations.append(_NEURAL_COLLAPSE)

    all_tags = ["ltnc-hf", "image-classification", "long-tailed", "neural-collapse", _slug(dataset_name)]
    all_tags += [m.replace("_", "-") for m in canonical if m != "ce"]
    for tag in tags or []:
        if tag not in all_tags:
            all_tags.append(tag)
    card_data = ModelCardData(
        model_name=model_name,
        license=license,
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=list(dict.fromkeys(all_tags)),
        datasets=[dataset_id] if dataset_id else None,
        base_model=base_model,
        metrics=["accuracy"],
        eval_results=eval_results,
    )

    summary = f"An image classifier for long-tailed {dataset_name}"
    if rho_str:
        summary += f" (imbalance factor ρ = {rho_str})"
    summary += f", trained with {' + '.join(method_names)}"
    if backbone:
        summary += f" on a `{backbone}` backbone"
    summary += ", with `ltnc-hf`."

    counts = [int(c) for c in class_counts] if class_counts is not None else None
    class_count_summary = None
    if counts:
        groups = {
            "many": sum(c > many for c in counts),
            "medium": sum(few <= c <= many for c in counts),
            "few": sum(c < few for c in counts),
        }
        class_count_summary = (
            f"{len(counts)} classes, {sum(counts):,} images, from {max(counts):,} down to {min(counts):,} per class "
            f"(ρ = {max(counts) / max(min(counts), 1):.4g}); {groups['many']} many-shot, {groups['medium']} "
            f"medium-shot and {groups['few']} few-shot classes."
        )
    args_rows = []
    for key, value in (training_args or {}).items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            args_rows.append((key, value))

    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path or TEMPLATE_PATH),
        summary=summary,
        dataset_name=dataset_name,
        dataset_id=dataset_id,
        dataset_split=dataset_split,
        imbalance_factor=imbalance_factor,
        imbalance_factor_str=rho_str,
        many=many,
        few=few,
        accuracy_row=accuracy_row,
        extra_results=extra_results,
        nc_results=nc_results,
        method_names=method_names,
        backbone=backbone,
        recipe=recipe,
        etf_seed=etf_seed,
        class_counts=counts,
        class_count_summary=class_count_summary,
        training_args=args_rows,
        model_name=model_name,
        repo_id=repo_id or model_name,
        citations=citations,
    )
    # the template's optional sections leave runs of blank lines behind
    return ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)))


__all__ = ["METHODS", "TEMPLATE_PATH", "create_model_card"]
