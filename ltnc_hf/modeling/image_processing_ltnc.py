"""Image processor of `ltnc` checkpoints: resize, rescale, normalise, and match the model's channel count.

It is the standard torchvision-backed transformers processor plus one option, `num_channels`: images are converted to
RGB for 3-channel models and to grayscale (ITU-R 601-2 luma, as PIL's `convert("L")`) for 1-channel models
(Fashion-MNIST), so `pipeline("image-classification")` accepts any PIL image, array or tensor.

How a checkpoint finds it: `preprocessor_config.json` carries neither `image_processor_type` nor an `auto_map`; the
model's `config.json` maps `AutoImageProcessor` to this class (`auto_map`, and the local Auto registration of the
`ltnc` model type). The reason is a transformers 5.x pipeline quirk: every pipeline also tries to load a *video*
processor, guesses one from the image processor's `auto_map`/`image_processor_type`, and then asks interactively
whether to run custom code (`input()`, 15 s) even when the model loads from local code.

This file imports nothing from `ltnc_hf` so that it can be shipped next to a checkpoint as remote code.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms.v2 import functional as tvF
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_utils import ImageInput, PILImageResampling
from transformers.processing_utils import ImagesKwargs

__all__ = ["LtncImageProcessor"]


class LtncImageProcessorKwargs(ImagesKwargs, total=False):
    """`ImagesKwargs` plus `num_channels` (`int`, 1 or 3): channels of the processed images."""

    num_channels: int


class LtncImageProcessor(TorchvisionBackend):
    r"""Resize to `size`, rescale to [0, 1], normalise with `image_mean`/`image_std`; output `pixel_values` of shape
    (batch, num_channels, height, width).

    Args:
        num_channels (`int`, *optional*, defaults to 3): 3 converts inputs to RGB, 1 to grayscale.
        size (`dict[str, int]`, *optional*, defaults to `{"height": 32, "width": 32}`): output size.
        image_mean (`list[float]`, *optional*): per-channel mean, `num_channels` values.
        image_std (`list[float]`, *optional*): per-channel standard deviation, `num_channels` values.
        kwargs: any other `ImagesKwargs` option (`resample`, `do_center_crop`, `crop_size`, ...).
    """

    valid_kwargs = LtncImageProcessorKwargs
    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BILINEAR
    image_mean = (0.5, 0.5, 0.5)
    image_std = (0.5, 0.5, 0.5)
    size = {"height": 32, "width": 32}
    do_resize = True
    do_rescale = True
    do_normalize = True
    num_channels = 3

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.num_channels not in (1, 3):
            raise ValueError(f"LtncImageProcessor supports num_channels 1 or 3 (got {self.num_channels}).")
        for name in ("image_mean", "image_std"):
            value = getattr(self, name)
            if self.do_normalize and value is not None and not isinstance(value, (int, float)):
                if len(value) != self.num_channels:
                    raise ValueError(
                        f"{name} has {len(value)} values but num_channels={self.num_channels}; give one value per "
                        "channel."
                    )

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("image_processor_type", None)  # resolved through the model config, see the module docstring
        return output

    def process_image(
        self,
        image: ImageInput,
        do_convert_rgb: bool | None = None,
        input_data_format: Any = None,
        device: torch.device | None = None,
        num_channels: int | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Convert one image to a channels-first uint8/float tensor with `num_channels` channels."""
        num_channels = num_channels or self.num_channels
        layout = {"input_data_format": input_data_format, "device": device}
        if num_channels == 3:
            return super().process_image(image, do_convert_rgb=True, **layout)
        if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL image: use PIL's own luma conversion
            image = image.convert("L")
        tensor = super().process_image(image, do_convert_rgb=False, **layout)
        if tensor.shape[0] == 4:
            tensor = tensor[:3]
        if tensor.shape[0] == 3:
            tensor = tvF.rgb_to_grayscale(tensor, num_output_channels=1)
        if tensor.shape[0] != 1:
            raise ValueError(f"Cannot convert an image with {tensor.shape[0]} channels to grayscale.")
        return tensor
