"""`LtncConfig`: backbone + (projection) + feature normalisation + classifier head of a long-tailed classifier.

This file imports nothing from `ltnc_hf` (only its sibling files, relatively) so that it can be shipped next to a
checkpoint as remote code.
"""

from __future__ import annotations

import difflib
from typing import Any

import timm
from transformers import PretrainedConfig

from .cifar_resnet import CIFAR_RESNET_DEPTHS  # noqa: F401  (importing it registers the CIFAR ResNets with timm)
from .heads import ETF_KINDS, FEATURE_NORMS

__all__ = ["LtncConfig", "HEAD_TYPES", "ETF_KINDS", "FEATURE_NORMS", "HF_BACKBONE_PREFIX"]

HEAD_TYPES = ("linear", "etf", "cosine")
HF_BACKBONE_PREFIX = "hf:"
_TIMM_SOURCES = ("hf-hub:", "local-dir:")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _timm_pretrained_cfg(name: str) -> Any:
    if name.startswith(_TIMM_SOURCES):
        return None
    return timm.get_pretrained_cfg(name)


class LtncConfig(PretrainedConfig):
    r"""Configuration of [`LtncModel`] and [`LtncForImageClassification`].

    Args:
        backbone (`str`, *optional*, defaults to `"cifar_resnet32"`):
            A timm model name (`"resnet50"`, `"convnext_tiny"`, `"vit_small_patch16_224"`, the CIFAR ResNets
            `"cifar_resnet{8,20,32,44,56,110}"`, `"hf-hub:..."`/`"local-dir:..."` sources), or
            `"hf:<model id, local path or model_type>"` for a transformers vision model used through its pooled output
            (e.g. `"hf:facebook/convnext-tiny-224"`, or `"hf:vit"` with the architecture in `backbone_kwargs`).
        backbone_kwargs (`dict`, *optional*):
            Extra arguments of the backbone: `timm.create_model(backbone, **backbone_kwargs)` (e.g. `{"width": 32}`,
            `{"drop_path_rate": 0.1}`), or the transformers config attributes (e.g. `{"hidden_size": 32}`).
        backbone_config (`dict`, *optional*):
            The resolved transformers config of an `"hf:"` backbone; filled in when the model is built so that a saved
            checkpoint rebuilds offline. Leave unset.
        pretrained_backbone (`bool`, *optional*, defaults to `False`):
            Load the backbone's pretrained weights when the model is built (not when it is loaded with
            `from_pretrained`, where the checkpoint holds every weight).
        head (`str`, *optional*, defaults to `"linear"`):
            One of `HEAD_TYPES`: `"linear"` (learnable), `"cosine"` (normed linear, learnable) or `"etf"` (fixed
            simplex ETF, ETF-DR / DisA with a fixed classifier).
        projection_dim (`int`, *optional*):
            Dimension of a linear projection between backbone and head. An ETF needs `feature_dim >= num_labels`, so
            set it when the backbone's features are narrower than the number of classes.
        feature_norm (`str`, *optional*):
            One of `FEATURE_NORMS`: `"none"`, `"l2"` or `"bn_l2"` (BatchNorm1d then L2, as ETF-DR). Defaults to
            `"bn_l2"` for the ETF head and `"none"` otherwise.
        etf_seed (`int`, *optional*, defaults to 0):
            Seed of the simplex ETF (fixed head, and the DisA target ETF).
        etf_kind (`str`, *optional*, defaults to `"simplex"`):
            One of `ETF_KINDS`. `"simplex"`: the simplex ETF, which needs `feature_dim >= num_labels`. `"spread"`:
            [`spread_unit_vectors`], the simplex ETF when it exists and otherwise (more classes than feature
            dimensions) unit vectors with the smallest largest pairwise cosine (exactly 0 for `d + 1 < K <= 2d`), so
            that a fixed head or a DisA target works on narrow features without a projection.
        disa_target_etf (`bool`, *optional*, defaults to `False`):
            Keep a frozen target ETF buffer of shape (feature_dim, num_labels) next to a learnable head (DisA with a
            learnable classifier, Fig. 1 bottom of the paper). With `head="etf"` the head's own ETF is the target.
        logit_scale (`float`, *optional*, defaults to 1.0):
            Multiplies the logits of the cosine and ETF heads (must stay 1.0 for the linear head).
        image_size (`int`, *optional*):
            Input resolution; defaults to `backbone_kwargs["img_size"]` or the timm model's pretrained config (32 for
            the CIFAR ResNets), the transformers config's `image_size`, or 224.
        crop_pct (`float`, *optional*):
            Evaluation crop of the image processor, as timm's `crop_pct`: resize the shorter side to
            `floor(image_size / crop_pct)`, then center-crop `image_size` (0.875: 256 then 224, the ImageNet-LT
            protocol). `None` resizes straight to `image_size` (the CIFAR / Fashion-MNIST recipes). `ltnc-hf train`
            sets it from the evaluation transform.
        image_mean (`list[float]`, *optional*):
            Normalisation mean, one value per channel; defaults to the timm model's (CIFAR statistics for the CIFAR
            ResNets) or ImageNet's; averaged to one value for 1-channel inputs.
        image_std (`list[float]`, *optional*):
            Normalisation standard deviation, as `image_mean`.
        num_channels (`int`, *optional*):
            Input channels; defaults to `backbone_kwargs["in_chans"]` (timm), `backbone_kwargs["num_channels"]`
            (transformers) or 3.
        kwargs: `num_labels`, `id2label`, `label2id` and the other [`PretrainedConfig`] arguments.
    """

    model_type = "ltnc"

    backbone: str = "cifar_resnet32"
    backbone_kwargs: dict | None = None
    backbone_config: dict | None = None
    pretrained_backbone: bool = False
    head: str = "linear"
    projection_dim: int | None = None
    feature_norm: str | None = None
    etf_seed: int = 0
    etf_kind: str = "simplex"
    disa_target_etf: bool = False
    logit_scale: float = 1.0
    image_size: int | None = None
    crop_pct: float | None = None
    image_mean: list[float] | None = None
    image_std: list[float] | None = None
    num_channels: int | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.backbone_kwargs = dict(self.backbone_kwargs or {})
        self._validate_choices()
        self._resolve_input_defaults()

    # ------------------------------------------------------------------ validation
    @property
    def is_hf_backbone(self) -> bool:
        """Whether `backbone` names a transformers model (`"hf:"` prefix) rather than a timm one."""
        return self.backbone.startswith(HF_BACKBONE_PREFIX)

    @property
    def hf_backbone_name(self) -> str:
        """`backbone` without the `"hf:"` prefix."""
        return self.backbone[len(HF_BACKBONE_PREFIX) :]

    def _validate_choices(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone:
            raise ValueError(f"backbone must be a timm model name or 'hf:<name>' (got {self.backbone!r}).")
        if self.is_hf_backbone:
            if not self.hf_backbone_name:
                raise ValueError("backbone='hf:' needs a transformers model id, path or model_type after the prefix.")
        elif not self.backbone.startswith(_TIMM_SOURCES) and not timm.is_model(self.backbone):
            close = difflib.get_close_matches(self.backbone, timm.list_models(), n=5, cutoff=0.6)
            hint = f" Did you mean one of {close}?" if close else ""
            raise ValueError(
                f"Unknown backbone {self.backbone!r}: not a timm model.{hint} Use a name from `timm.list_models()`, "
                "or 'hf:<model id or path>' for a transformers vision model."
            )
        if self.head not in HEAD_TYPES:
            raise ValueError(f"Unknown head {self.head!r}, expected one of {HEAD_TYPES}.")
        if self.feature_norm is None:
            self.feature_norm = "bn_l2" if self.head == "etf" else "none"
        if self.feature_norm not in FEATURE_NORMS:
            raise ValueError(f"Unknown feature_norm {self.feature_norm!r}, expected one of {FEATURE_NORMS}.")
        if self.projection_dim is not None and (not isinstance(self.projection_dim, int) or self.projection_dim < 1):
            raise ValueError(f"projection_dim must be a positive int or None (got {self.projection_dim!r}).")
        if self.etf_kind not in ETF_KINDS:
            close = difflib.get_close_matches(str(self.etf_kind), ETF_KINDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown etf_kind {self.etf_kind!r}, expected one of {ETF_KINDS}.{hint}")
        needs_etf = self.head == "etf" or self.disa_target_etf
        if (
            needs_etf
            and self.etf_kind == "simplex"
            and self.projection_dim is not None
            and self.projection_dim < self.num_labels
        ):
            what = "head='etf'" if self.head == "etf" else "disa_target_etf=True"
            raise ValueError(
                f"{what} needs feature_dim >= num_labels (got projection_dim={self.projection_dim} < "
                f"num_labels={self.num_labels}); set projection_dim={self.num_labels} or larger, or "
                "etf_kind='spread' for evenly spread vectors."
            )
        if self.crop_pct is not None and not 0.0 < float(self.crop_pct) <= 1.0:
            raise ValueError(f"crop_pct must be in (0, 1] or None (got {self.crop_pct}); timm's default is 0.875.")
        if not float(self.logit_scale) > 0:
            raise ValueError(f"logit_scale must be > 0 (got {self.logit_scale}).")
        if self.head == "linear" and float(self.logit_scale) != 1.0:
            raise ValueError(
                f"logit_scale={self.logit_scale} does not apply to head='linear' (it scales cosine/ETF logits); "
                "leave it at 1.0 or use head='cosine' or 'etf'."
            )
        if self.problem_type not in (None, "single_label_classification"):
            raise ValueError(
                f"problem_type={self.problem_type!r} is not supported: the model is trained with softmax "
                "cross-entropy (single_label_classification); leave problem_type unset."
            )
        if not isinstance(self.backbone_kwargs, dict):
            raise TypeError(f"backbone_kwargs must be a dict (got {type(self.backbone_kwargs).__name__}).")

    def _resolve_input_defaults(self) -> None:
        key = "num_channels" if self.is_hf_backbone else "in_chans"
        requested = self.backbone_kwargs.get(key)
        if self.is_hf_backbone and requested is None and self.backbone_config:
            requested = self.backbone_config.get("num_channels")
        if self.num_channels is None:
            self.num_channels = int(requested) if requested is not None else 3
        elif requested is not None and int(requested) != int(self.num_channels):
            raise ValueError(
                f"num_channels={self.num_channels} disagrees with backbone_kwargs[{key!r}]={requested}; set only one."
            )
        if self.num_channels < 1:
            raise ValueError(f"num_channels must be >= 1 (got {self.num_channels}).")

        pretrained_cfg = None if self.is_hf_backbone else _timm_pretrained_cfg(self.backbone)
        if self.image_size is None:
            size = None
            if not self.is_hf_backbone and self.backbone_kwargs.get("img_size") is not None:
                size = self.backbone_kwargs["img_size"]
            elif pretrained_cfg is not None:
                size = pretrained_cfg.input_size[-1]
            elif self.is_hf_backbone:
                size = self.backbone_kwargs.get("image_size") or (self.backbone_config or {}).get("image_size")
            if isinstance(size, (list, tuple)):
                size = size[-1]
            self.image_size = int(size) if size else 224
        for name, default in (("image_mean", _IMAGENET_MEAN), ("image_std", _IMAGENET_STD)):
            value = getattr(self, name)
            if value is None:
                value = getattr(pretrained_cfg, name[len("image_") :], None) if pretrained_cfg is not None else None
                value = list(value if value is not None else default)
                if self.num_channels == 1 and len(value) == 3:
                    value = [sum(value) / 3.0]
                elif self.num_channels != len(value):
                    value = [sum(value) / len(value)] * self.num_channels
            value = [float(v) for v in value]
            if len(value) != self.num_channels:
                raise ValueError(
                    f"{name} has {len(value)} values but num_channels={self.num_channels}; give one value per channel."
                )
            setattr(self, name, value)
