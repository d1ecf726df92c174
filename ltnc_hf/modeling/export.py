"""Export the backbone of an [`LtncForImageClassification`] in timm's own format."""

from __future__ import annotations

import json
import os
from pathlib import Path

from timm.models import save_for_hf
from torch import nn

__all__ = ["export_backbone_to_timm"]


def export_backbone_to_timm(model: nn.Module, save_directory: str | os.PathLike) -> Path:
    """Write the timm backbone of `model` (headless, `num_classes=0`) as `config.json` + `model.safetensors`.

    The folder loads with `timm.create_model("local-dir:" + folder, pretrained=True)` and returns the backbone's pooled
    features of shape `(batch, backbone_dim)` (before the projection and feature normalisation of the `ltnc` model);
    its `pretrained_cfg` records the model's input size and normalisation (`image_size`, `image_mean`, `image_std`).
    It also loads with transformers' `AutoModel.from_pretrained(folder)` (`TimmWrapperModel`): `num_classes` is kept
    only at the top level of `config.json`, because transformers 5.x passes it to timm itself and a second copy in
    `model_args` (which timm's `save_for_hf` writes) fails with "multiple values for keyword argument".
    CIFAR ResNet exports need `import ltnc_hf` (which registers them with timm) before loading.

    Args:
        model ([`LtncForImageClassification`] or [`LtncModel`]): a model with a timm backbone.
        save_directory (`str` or `os.PathLike`): target folder (created if needed).

    Returns:
        `pathlib.Path` of the folder.
    """
    base = getattr(model, "ltnc", model)
    backbone = getattr(base, "backbone", None)
    config = getattr(base, "config", None)
    if backbone is None or config is None:
        raise TypeError(
            f"export_backbone_to_timm needs an LtncForImageClassification or LtncModel (got {type(model).__name__})."
        )
    if config.is_hf_backbone:
        raise TypeError(
            f"The backbone {config.backbone!r} is a transformers model, not a timm one; save it with "
            "`model.ltnc.backbone.save_pretrained(folder)` instead."
        )
    save_directory = Path(save_directory)
    data_config = {
        "mean": tuple(config.image_mean),
        "std": tuple(config.image_std),
        "input_size": (int(config.num_channels), int(config.image_size), int(config.image_size)),
    }
    save_for_hf(backbone, str(save_directory), safe_serialization=True, data_config=data_config)
    config_path = save_directory / "config.json"
    timm_config = json.loads(config_path.read_text())
    timm_config.get("model_args", {}).pop("num_classes", None)
    config_path.write_text(json.dumps(timm_config, indent=2))
    return save_directory
