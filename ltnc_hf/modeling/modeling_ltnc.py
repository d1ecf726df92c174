"""`LtncModel` and `LtncForImageClassification`: any timm or transformers backbone, an optional projection, the
feature normalisation, and a linear, cosine or fixed simplex-ETF classifier.

Layout (DisA, ICML 2024, Fig. 1): `features = neck(backbone(pixel_values))` is what the classifier sees and what the
distribution-alignment loss and the neural-collapse metrics consume. With `head="etf"` the classifier is a frozen ETF
buffer (Fig. 1, top); with a learnable head and `disa_target_etf=True` a frozen target ETF buffer is kept next to it
(Fig. 1, bottom). ETF buffers are persistent: they are part of the model and saved with the weights, because
transformers v5 builds models on the meta device in `from_pretrained` (a buffer computed in `__init__` and missing
from the checkpoint would come back uninitialised).

This file imports nothing from `ltnc_hf` (only its sibling files, relatively) so that `save_pretrained` can ship it,
with its siblings, next to the weights: the checkpoint then loads with `trust_remote_code=True` without `ltnc_hf`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_ltnc import LtncConfig
from .heads import CosineHead, EtfHead, FeatureNeck, LinearHead
from .image_processing_ltnc import LtncImageProcessor

__all__ = [
    "LtncPreTrainedModel",
    "LtncModel",
    "LtncForImageClassification",
    "LtncModelOutput",
    "LtncImageClassifierOutput",
]

_HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")


@dataclass
class LtncModelOutput(ModelOutput):
    """Output of [`LtncModel`].

    Args:
        features (`torch.FloatTensor` of shape `(batch, feature_dim)`):
            The representation the classifier sees (after the optional projection and the feature normalisation).
        backbone_features (`torch.FloatTensor` of shape `(batch, backbone_dim)`):
            The backbone's pooled output, before projection and normalisation.
    """

    features: torch.FloatTensor | None = None
    backbone_features: torch.FloatTensor | None = None


@dataclass
class LtncImageClassifierOutput(ModelOutput):
    """Output of [`LtncForImageClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is given):
            Cross-entropy of `logits` against `labels` (class ids of shape `(batch,)` or class probabilities of shape
            `(batch, num_labels)`).
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`):
            Classifier scores (before softmax).
        features (`torch.FloatTensor` of shape `(batch, feature_dim)`):
            The representation the classifier sees.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None


def _building_on_meta_device() -> bool:
    """True inside transformers' meta-device construction (`from_pretrained`): weights come from the checkpoint."""
    return torch.empty(0).device.type == "meta"


def _resolve_hf_backbone_config(config: LtncConfig) -> PretrainedConfig:
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if config.backbone_config is not None:
        saved = dict(config.backbone_config)
        model_type = saved.get("model_type")
        if model_type not in CONFIG_MAPPING:
            raise ValueError(
                f"backbone_config has model_type {model_type!r}, which this transformers version does not know."
            )
        return CONFIG_MAPPING[model_type].from_dict(saved)
    name = config.hf_backbone_name
    kwargs = dict(config.backbone_kwargs)
    kwargs.setdefault("num_channels", config.num_channels)
    if name in CONFIG_MAPPING and not os.path.isdir(name):
        hf_config = AutoConfig.for_model(name, **kwargs)
    else:
        try:
            hf_config = AutoConfig.from_pretrained(name, **kwargs)
        except (OSError, ValueError) as err:
            raise ValueError(
                f"Cannot resolve the transformers backbone {config.backbone!r}: {err}\nUse 'hf:<Hub model id>', "
                "'hf:<local folder>' or 'hf:<model_type>' (e.g. 'hf:vit' with the architecture in backbone_kwargs)."
            ) from err
    hf_channels = getattr(hf_config, "num_channels", None)
    if hf_channels is not None and int(hf_channels) != int(config.num_channels):
        raise ValueError(
            f"The transformers backbone expects num_channels={hf_channels} but the config has "
            f"num_channels={config.num_channels}; set backbone_kwargs={{'num_channels': {config.num_channels}}}."
        )
    # Keep the resolved architecture so that a saved checkpoint rebuilds offline.
    config.backbone_config = hf_config.to_dict()
    return hf_config


def _hf_feature_dim(model: PreTrainedModel) -> int:
    num_features = getattr(model, "num_features", None)
    if isinstance(num_features, int):
        return num_features
    cfg = model.config
    for attr in ("pooler_output_size", "hidden_sizes", "hidden_size", "embed_dim"):
        value = getattr(cfg, attr, None)
        if isinstance(value, (list, tuple)) and value:
            value = value[-1]
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(
        f"Cannot infer the pooled feature dimension of {type(model).__name__}: it has no `num_features` and its "
        "config no `hidden_size`/`hidden_sizes`."
    )


def build_backbone(config: LtncConfig) -> tuple[nn.Module, int]:
    """Build the backbone named by `config.backbone` and return it with its pooled feature dimension."""
    load_pretrained = bool(config.pretrained_backbone) and not _building_on_meta_device()
    if config.is_hf_backbone:
        from transformers import AutoModel

        hf_config = _resolve_hf_backbone_config(config)
        if load_pretrained:
            model = AutoModel.from_pretrained(config.hf_backbone_name, config=hf_config)
        else:
            model = AutoModel.from_config(hf_config)
        return model, _hf_feature_dim(model)
    kwargs = dict(config.backbone_kwargs)
    kwargs.pop("num_classes", None)
    kwargs["in_chans"] = config.num_channels
    model = timm.create_model(config.backbone, pretrained=load_pretrained, num_classes=0, **kwargs)
    dim = getattr(model, "head_hidden_size", None) or model.num_features
    return model, int(dim)


def _init_linear(module: nn.Linear) -> None:
    """`nn.Linear`'s default initialisation, through transformers' flag-aware init functions."""
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        bound = 1.0 / math.sqrt(module.in_features) if module.in_features > 0 else 0.0
        init.uniform_(module.bias, -bound, bound)


class LtncPreTrainedModel(PreTrainedModel):
    """Shared plumbing: config class, weight initialisation of the parts this package owns."""

    config_class = LtncConfig
    config: LtncConfig
    base_model_prefix = "ltnc"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    accepts_loss_kwargs = False
    supports_gradient_checkpointing = True
    _no_split_modules: list[str] = []

    def _set_gradient_checkpointing(
        self, enable: bool = True, gradient_checkpointing_func: Any = None, every_n_layers: int = 1
    ) -> None:
        """Activation checkpointing of the backbone: timm's `set_grad_checkpointing`, or the transformers model's own
        mechanism (`model.gradient_checkpointing_enable()` / `TrainingArguments(gradient_checkpointing=True)`)."""
        base = self if isinstance(self, LtncModel) else self.ltnc
        backbone = base.backbone
        if isinstance(backbone, PreTrainedModel):
            if not backbone.supports_gradient_checkpointing:
                raise ValueError(f"The backbone {type(backbone).__name__} does not support gradient checkpointing.")
            kwargs = {"enable": enable, "every_n_layers": every_n_layers}
            if gradient_checkpointing_func is not None:
                kwargs["gradient_checkpointing_func"] = gradient_checkpointing_func
            backbone._set_gradient_checkpointing(**kwargs)
        elif hasattr(backbone, "set_grad_checkpointing"):
            backbone.set_grad_checkpointing(enable)
        else:
            raise ValueError(f"The timm backbone {type(backbone).__name__} has no `set_grad_checkpointing`.")
        base.gradient_checkpointing = enable

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Initialise the neck, the heads and the ETF buffers; leave timm/transformers backbones to their own init.

        Called by `post_init` and, in `from_pretrained`, for the weights missing from the checkpoint. The
        `transformers.initialization` functions skip tensors already loaded, so a checkpoint's ETF is never replaced.
        timm modules with non-persistent buffers (relative position indices, ...) get them recomputed, since
        transformers v5 allocates those uninitialised when it loads on the meta device.
        """
        if isinstance(module, FeatureNeck):
            if isinstance(module.projection, nn.Linear):
                _init_linear(module.projection)
            if isinstance(module.bn, nn.BatchNorm1d):
                init.ones_(module.bn.weight)
                init.zeros_(module.bn.bias)
                init.zeros_(module.bn.running_mean)
                init.ones_(module.bn.running_var)
                init.zeros_(module.bn.num_batches_tracked)
        elif isinstance(module, LinearHead):
            _init_linear(module)
        elif isinstance(module, CosineHead):
            if not getattr(module.weight, "_is_hf_initialized", False):
                init.uniform_(module.weight, -1.0, 1.0)
                init.copy_(module.weight, F.normalize(module.weight, dim=1))
        elif isinstance(module, EtfHead):
            # Computed in __init__ (fresh model) or loaded from the checkpoint: keep; missing from it: recompute.
            if not module.etf_computed and not getattr(module.etf, "_is_hf_initialized", False):
                module.reset_etf()
        elif hasattr(module, "init_non_persistent_buffers") and callable(module.init_non_persistent_buffers):
            module.init_non_persistent_buffers()

    @staticmethod
    def _check_pixel_values(pixel_values: torch.Tensor, num_channels: int) -> None:
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"pixel_values must be a torch.Tensor (got {type(pixel_values).__name__}).")
        if pixel_values.ndim != 4:
            raise ValueError(
                f"pixel_values must have shape (batch, channels, height, width) (got {tuple(pixel_values.shape)})."
            )
        if pixel_values.shape[1] != num_channels:
            mode = "L" if num_channels == 1 else "RGB"
            raise ValueError(
                f"pixel_values has {pixel_values.shape[1]} channels but the model expects {num_channels} "
                f"(config.num_channels). Convert the images (e.g. PIL `.convert('{mode}')` or the checkpoint's image "
                f"processor), or build the model with num_channels={pixel_values.shape[1]}."
            )


class LtncModel(LtncPreTrainedModel):
    """Backbone, optional projection and feature normalisation: `pixel_values` -> `features`.

    Args:
        config ([`LtncConfig`]): the model configuration.

    Attributes:
        backbone (`nn.Module`): the timm model (built with `num_classes=0`) or the transformers model.
        neck ([`FeatureNeck`]): projection + normalisation.
        backbone_dim (`int`): pooled backbone feature dimension.
        feature_dim (`int`): dimension of `features` (`projection_dim` when set, else `backbone_dim`).
    """

    def __init__(self, config: LtncConfig) -> None:
        super().__init__(config)
        self.gradient_checkpointing = False
        self.backbone, self.backbone_dim = build_backbone(config)
        self.neck = FeatureNeck(self.backbone_dim, config.projection_dim, config.feature_norm)
        self.feature_dim = self.neck.out_features
        self.post_init()

    @property
    def is_hf_backbone(self) -> bool:
        return self.config.is_hf_backbone

    def backbone_forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features of shape (batch, backbone_dim)."""
        if self.config.is_hf_backbone:
            outputs = self.backbone(pixel_values=pixel_values)
            if isinstance(outputs, tuple):  # return_dict=False: (last_hidden_state, pooled, ...)
                hidden, pooled = outputs[0], (outputs[1] if len(outputs) > 1 else None)
            else:
                hidden, pooled = outputs[0], getattr(outputs, "pooler_output", None)
            if pooled is None:
                pooled = hidden.mean(dim=1) if hidden.ndim == 3 else hidden.mean(dim=(-2, -1))
            pooled = pooled.flatten(1)
        else:
            pooled = self.backbone(pixel_values)
            if pooled.ndim != 2:
                pooled = pooled.flatten(1)
        if pooled.shape[-1] != self.backbone_dim:
            raise ValueError(
                f"Backbone {self.config.backbone!r} returned {pooled.shape[-1]}-d pooled features, expected "
                f"{self.backbone_dim}; set `global_pool` in backbone_kwargs or use a backbone with a pooled output."
            )
        return pooled

    def forward(
        self, pixel_values: torch.Tensor, return_dict: bool | None = None, **kwargs: Any
    ) -> LtncModelOutput | tuple[torch.Tensor, ...]:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, num_channels, height, width)`): the images.
            return_dict (`bool`, *optional*): return a [`LtncModelOutput`] rather than a tuple.

        Returns:
            [`LtncModelOutput`] with `features` of shape `(batch, feature_dim)` and `backbone_features` of shape
            `(batch, backbone_dim)`.
        """
        self._check_pixel_values(pixel_values, self.config.num_channels)
        backbone_features = self.backbone_forward(pixel_values)
        features = self.neck(backbone_features)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return features, backbone_features
        return LtncModelOutput(features=features, backbone_features=backbone_features)


class LtncForImageClassification(LtncPreTrainedModel):
    """[`LtncModel`] plus a linear, cosine or fixed simplex-ETF classifier, trained with cross-entropy.

    Args:
        config ([`LtncConfig`]): the model configuration.

    `save_pretrained` also writes the image processor of [`get_image_processor`] (`preprocessor_config.json`) and
    the model's source files, so the saved folder works with `pipeline("image-classification", model=folder)` and,
    without this package installed, with `trust_remote_code=True`. `push_to_hub` uploads the same files.
    """

    def __init__(self, config: LtncConfig) -> None:
        super().__init__(config)
        self.ltnc = LtncModel(config)
        dim, num_labels = self.ltnc.feature_dim, config.num_labels
        needs_etf = config.head == "etf" or config.disa_target_etf
        etf_kind = getattr(config, "etf_kind", "simplex")
        if needs_etf and etf_kind == "simplex" and dim < num_labels:
            what = "head='etf'" if config.head == "etf" else "disa_target_etf=True"
            raise ValueError(
                f"{what} needs feature_dim >= num_labels (got {dim} < {num_labels}: backbone {config.backbone!r} "
                f"gives {self.ltnc.backbone_dim}-d features); set projection_dim={num_labels} (or larger), or "
                "etf_kind='spread' for evenly spread vectors"
                + (", or use head='linear' or 'cosine'." if config.head == "etf" else ".")
            )
        if config.head == "etf":
            self.classifier = EtfHead(dim, num_labels, seed=config.etf_seed, scale=config.logit_scale, kind=etf_kind)
        elif config.head == "cosine":
            self.classifier = CosineHead(dim, num_labels, scale=config.logit_scale)
        else:
            self.classifier = LinearHead(dim, num_labels)
        # DisA with a learnable classifier: a frozen target ETF next to the head (the ETF head is its own target).
        self.disa_target = (
            EtfHead(dim, num_labels, seed=config.etf_seed, kind=etf_kind)
            if config.disa_target_etf and config.head != "etf"
            else None
        )
        self.post_init()

    # ------------------------------------------------------------------ accessors used by losses and trainer
    @property
    def feature_dim(self) -> int:
        """Dimension of `features` (what the classifier sees)."""
        return self.ltnc.feature_dim

    def get_classifier_weight(self) -> torch.Tensor:
        """The classifier weight of shape `(num_labels, feature_dim)`: the live `nn.Parameter` of a linear/cosine
        head, or the ETF buffer transposed (a view) for the ETF head."""
        return self.classifier.weight

    @property
    def classifier_parameter(self) -> nn.Parameter | None:
        """The learnable `(num_labels, feature_dim)` classifier weight, or `None` for the fixed ETF head."""
        weight = self.classifier.weight
        return weight if isinstance(weight, nn.Parameter) else None

    def get_target_etf(self) -> torch.Tensor | None:
        """The target simplex ETF of shape `(feature_dim, num_labels)`: the ETF head's buffer, the frozen buffer kept
        with `disa_target_etf=True`, or `None`."""
        if isinstance(self.classifier, EtfHead):
            return self.classifier.etf
        if self.disa_target is not None:
            return self.disa_target.etf
        return None

    def reset_classifier(self, *, seed: int | None = None) -> None:
        """Re-initialise the learnable classifier (classifier re-training, cRT); the ETF head stays as it is.

        Args:
            seed (`int`, *optional*): seed of a local generator for the new weights; `None` draws from the default
                generator like `nn.Linear`.
        """
        if isinstance(self.classifier, EtfHead):
            return
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        weight = self.classifier.weight
        if weight.device.type != "cpu" and generator is not None:
            generator = torch.Generator(device=weight.device).manual_seed(seed)
        self.classifier.reset_parameters(generator=generator)

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the feature extractor (backbone, projection and normalisation)."""
        return self.ltnc.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the classifier (none for the fixed ETF head)."""
        return self.classifier.parameters()

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> LtncImageClassifierOutput | tuple[torch.Tensor, ...]:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, num_channels, height, width)`): the images.
            labels (`torch.LongTensor` of shape `(batch,)` or `torch.FloatTensor` of shape `(batch, num_labels)`,
                *optional*): class ids or class probabilities; when given, `loss` is their cross-entropy.
            return_dict (`bool`, *optional*): return a [`LtncImageClassifierOutput`] rather than a tuple.

        Returns:
            [`LtncImageClassifierOutput`] with `loss` (when `labels` is given), `logits` of shape
            `(batch, num_labels)` and `features` of shape `(batch, feature_dim)`.
        """
        features = self.ltnc(pixel_values, return_dict=True).features
        logits = self.classifier(features)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            loss = F.cross_entropy(logits.float(), labels.float() if labels.is_floating_point() else labels)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            output = (logits, features)
            return (loss, *output) if loss is not None else output
        return LtncImageClassifierOutput(loss=loss, logits=logits, features=features)

    # ------------------------------------------------------------------ saving and loading
    def get_image_processor(self) -> LtncImageProcessor:
        """The [`LtncImageProcessor`] matching the config: resize to `image_size` (or, with `crop_pct`, resize the
        shorter side to `floor(image_size / crop_pct)` and center-crop `image_size`, as timm's evaluation transform),
        normalise with `image_mean`/`image_std`, convert to `num_channels` channels."""
        size = int(self.config.image_size)
        crop_pct = getattr(self.config, "crop_pct", None)
        geometry: dict[str, Any] = {"size": {"height": size, "width": size}}
        if crop_pct is not None:
            geometry = {
                "size": {"shortest_edge": int(math.floor(size / float(crop_pct)))},
                "do_center_crop": True,
                "crop_size": {"height": size, "width": size},
            }
        return LtncImageProcessor(
            **geometry,
            image_mean=list(self.config.image_mean),
            image_std=list(self.config.image_std),
            num_channels=int(self.config.num_channels),
        )

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *args: Any,
        save_image_processor: bool = True,
        image_processor: Any = None,
        **kwargs: Any,
    ) -> None:
        """[`PreTrainedModel.save_pretrained`], plus the image processor and an `auto_map` covering `AutoConfig`,
        `AutoModel` and `AutoModelForImageClassification`.

        Args:
            save_directory (`str` or `os.PathLike`): target folder.
            save_image_processor (`bool`, *optional*, defaults to `True`): also write `preprocessor_config.json`.
            image_processor (*optional*): the processor to save instead of [`get_image_processor`]'s.
            kwargs: the arguments of [`PreTrainedModel.save_pretrained`] (`push_to_hub=True` uploads every file).
        """
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.update(
            {
                "AutoConfig": f"{type(self.config).__module__.split('.')[-1]}.{type(self.config).__name__}",
                "AutoModel": f"{LtncModel.__module__.split('.')[-1]}.{LtncModel.__name__}",
                # The image processor is found through the model config (see image_processing_ltnc.py).
                "AutoImageProcessor": f"{LtncImageProcessor.__module__.split('.')[-1]}.{LtncImageProcessor.__name__}",
            }
        )
        self.config.auto_map = auto_map
        push_to_hub = kwargs.pop("push_to_hub", False)
        is_main_process = kwargs.get("is_main_process", True)
        hub = {}
        if push_to_hub and is_main_process:
            from transformers.utils.hub import hf_api

            repo_id = kwargs.pop("repo_id", os.fspath(save_directory).rstrip(os.path.sep).split(os.path.sep)[-1])
            hub = {
                "commit_message": kwargs.pop("commit_message", None),
                "create_pr": kwargs.pop("create_pr", False),
                "token": kwargs.get("token"),
            }
            repo_kwargs = {k: kwargs.pop(k) for k in ("private", "repo_type") if k in kwargs}
            hub["repo_id"] = hf_api().create_repo(repo_id, exist_ok=True, token=hub["token"], **repo_kwargs).repo_id
            os.makedirs(save_directory, exist_ok=True)
            files_timestamps = self._get_files_timestamps(save_directory)
        super().save_pretrained(save_directory, *args, **kwargs)
        if save_image_processor and is_main_process:
            (image_processor if image_processor is not None else self.get_image_processor()).save_pretrained(
                save_directory
            )
        if hub:
            self._upload_modified_files(
                save_directory,
                hub["repo_id"],
                files_timestamps,
                commit_message=hub["commit_message"],
                token=hub["token"],
                create_pr=hub["create_pr"],
            )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *model_args: Any, **kwargs: Any) -> Any:
        """[`PreTrainedModel.from_pretrained`], with a clear error when the requested `num_labels` differs from the
        checkpoint's (pass `ignore_mismatched_sizes=True` to re-initialise the classifier instead)."""
        if pretrained_model_name_or_path is not None and not kwargs.get("ignore_mismatched_sizes", False):
            _check_num_labels(pretrained_model_name_or_path, kwargs)
        loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        for module in model.modules():
            if isinstance(module, EtfHead):
                module.etf_computed = True  # loaded (or recomputed): a later init_weights() must keep it
        return loaded


def _check_num_labels(path: Any, kwargs: dict[str, Any]) -> None:
    config = kwargs.get("config")
    if isinstance(config, PretrainedConfig):
        requested = config.num_labels
    elif kwargs.get("num_labels") is not None:
        requested = int(kwargs["num_labels"])
    elif kwargs.get("id2label") is not None:
        requested = len(kwargs["id2label"])
    else:
        return
    try:
        saved_dict, _ = PretrainedConfig.get_config_dict(
            path, **{k: kwargs[k] for k in _HUB_KWARGS if kwargs.get(k) is not None}
        )
    except (OSError, ValueError):
        return  # let from_pretrained report the unreadable checkpoint
    if saved_dict.get("model_type") != LtncConfig.model_type:
        return
    saved = len(saved_dict["id2label"]) if saved_dict.get("id2label") else saved_dict.get("num_labels", 2)
    if saved != requested:
        raise ValueError(
            f"The checkpoint at {os.fspath(path)!r} has a {saved}-class classifier but num_labels={requested} was "
            f"requested. Pass ignore_mismatched_sizes=True to keep the backbone and re-initialise the classifier for "
            f"{requested} classes, or drop num_labels/id2label to keep the checkpoint's {saved} classes."
        )


LtncConfig.register_for_auto_class("AutoConfig")
LtncModel.register_for_auto_class("AutoModel")
LtncForImageClassification.register_for_auto_class("AutoModelForImageClassification")
