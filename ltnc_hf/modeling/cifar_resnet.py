"""CIFAR ResNets (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, §4.2) for timm.

timm has no CIFAR-style ResNet, so the variants used by the long-tailed literature (LDAM-DRW, DisA, ETF-DR, SpA) are
registered here with `@register_model` + `build_model_with_cfg`: after `import ltnc_hf`,
`timm.create_model("cifar_resnet32", num_classes=10)` works like any timm model.

Architecture (the 6n+2 network of the paper, as in the reference CIFAR-LT code):
3x3 stem convolution (no max-pool) -> three stages of `n` basic blocks with `width`, `2 * width`, `4 * width` channels
(16/32/64 by default) and strides 1/2/2 -> global average pooling -> linear classifier. Shortcuts that change the
shape use option A of the paper (strided identity, zero-padded channels: no parameters), and convolutions and the
classifier use Kaiming-normal initialisation. ResNet-32 (n = 5) with 10 classes has 464,154 parameters.

`width=32` gives the 32/64/128 model of the DisA CIFAR-100 experiments (feature dimension 128 >= 100 classes).

This file imports nothing from `ltnc_hf` so that it can be shipped next to a checkpoint as remote code.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
import torch.nn.functional as F
from timm.layers import create_classifier
from timm.models import build_model_with_cfg, register_model
from timm.models._manipulate import checkpoint_seq
from torch import nn

__all__ = ["CifarResNet", "CIFAR_RESNET_DEPTHS", "CIFAR_MEAN", "CIFAR_STD"]

# Mean/std used by the CIFAR-LT reference implementations (kaidic/LDAM-DRW, DisA).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

# model name -> blocks per stage (depth = 6 n + 2)
CIFAR_RESNET_DEPTHS = {
    "cifar_resnet8": 1,
    "cifar_resnet20": 3,
    "cifar_resnet32": 5,
    "cifar_resnet44": 7,
    "cifar_resnet56": 9,
    "cifar_resnet110": 18,
}


def _dd(device: Any, dtype: Any) -> dict[str, Any]:
    return {"device": device, "dtype": dtype}


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: strided identity whose extra channels are zeros (no parameters).

    Args:
        in_chs (`int`): input channels.
        out_chs (`int`): output channels (`>= in_chs`); the difference is split evenly before/after.
        stride (`int`): spatial subsampling of the identity.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        if out_chs < in_chs:
            raise ValueError(f"ZeroPadShortcut cannot reduce channels (got {in_chs} -> {out_chs}).")
        self.stride = stride
        self.pad_before = (out_chs - in_chs) // 2
        self.pad_after = out_chs - in_chs - self.pad_before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus (option-A) shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dd = _dd(device, dtype)
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False, **dd)
        self.bn1 = nn.BatchNorm2d(out_chs, **dd)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, stride=1, padding=1, bias=False, **dd)
        self.bn2 = nn.BatchNorm2d(out_chs, **dd)
        self.act2 = nn.ReLU(inplace=True)
        if stride != 1 or in_chs != out_chs:
            self.shortcut = ZeroPadShortcut(in_chs, out_chs, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet with the timm model interface.

    Args:
        layers (`tuple[int, int, int]`): basic blocks per stage (5, 5, 5 for ResNet-32).
        num_classes (`int`, defaults to 10): classifier outputs; 0 gives a headless model returning features.
        in_chans (`int`, defaults to 3): input channels (1 for Fashion-MNIST).
        width (`int`, defaults to 16): channels of the first stage; stages use `width`, `2 * width`, `4 * width`.
        global_pool (`str`, defaults to `"avg"`): timm pooling type.
        drop_rate (`float`, defaults to 0.0): dropout before the classifier.

    Shapes: `forward_features` maps (batch, in_chans, H, W) to (batch, 4 * width, H / 4, W / 4);
    `forward_head(x, pre_logits=True)` pools to (batch, num_features); `forward` returns (batch, num_classes).
    """

    def __init__(
        self,
        layers: tuple[int, int, int] | list[int] = (5, 5, 5),
        num_classes: int = 10,
        in_chans: int = 3,
        width: int = 16,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if len(layers) != 3:
            raise ValueError(f"CifarResNet has 3 stages; got layers={tuple(layers)}.")
        if width < 4 or width % 2:
            raise ValueError(f"CifarResNet width must be an even number >= 4 (got {width}).")
        dd = _dd(device, dtype)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        self.conv1 = nn.Conv2d(in_chans, width, 3, stride=1, padding=1, bias=False, **dd)
        self.bn1 = nn.BatchNorm2d(width, **dd)
        self.act1 = nn.ReLU(inplace=True)
        self.feature_info = [dict(num_chs=width, reduction=1, module="act1")]

        in_chs = width
        for stage_idx, (num_blocks, stride) in enumerate(zip(layers, (1, 2, 2))):
            out_chs = width * 2**stage_idx
            blocks = []
            for block_idx in range(num_blocks):
                blocks.append(BasicBlock(in_chs, out_chs, stride if block_idx == 0 else 1, **dd))
                in_chs = out_chs
            self.add_module(f"layer{stage_idx + 1}", nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=out_chs, reduction=2**stage_idx, module=f"layer{stage_idx + 1}"))

        self.num_features = in_chs
        self.global_pool, self.fc = create_classifier(self.num_features, num_classes, pool_type=global_pool, **dd)
        self.head_hidden_size = self.num_features * self.global_pool.feat_mult()
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal (fan-in) convolutions and classifier, as in the reference CIFAR ResNet code."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, str]:
        return dict(stem=r"^conv1|bn1", blocks=r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self, name_only: bool = False) -> nn.Module | str:
        return "fc" if name_only else self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a new one for `num_classes` outputs (0 removes it)."""
        param = next(self.parameters())
        self.num_classes = num_classes
        if global_pool is None:
            global_pool = self.global_pool.pool_type
        self.global_pool, self.fc = create_classifier(
            self.num_features, num_classes, pool_type=global_pool, device=param.device, dtype=param.dtype
        )
        if isinstance(self.fc, nn.Linear):
            nn.init.kaiming_normal_(self.fc.weight)
        self.head_hidden_size = self.num_features * self.global_pool.feat_mult()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_chans, H, W) -> (batch, num_features, H / 4, W / 4)."""
        x = self.act1(self.bn1(self.conv1(x)))
        stages = [self.layer1, self.layer2, self.layer3]
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(stages, x, flatten=True)
        for stage in stages:
            x = stage(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool (and classify unless `pre_logits`): -> (batch, num_features) or (batch, num_classes)."""
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs: Any) -> dict[str, Any]:
    # No `url`/`hf_hub_id`: these architectures ship without pretrained weights.
    return {
        "url": "",
        "num_classes": 10,
        "input_size": (3, 32, 32),
        "pool_size": (8, 8),
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "fixed_input_size": False,
        "mean": CIFAR_MEAN,
        "std": CIFAR_STD,
        "first_conv": "conv1",
        "classifier": "fc",
        "license": "apache-2.0",
        **kwargs,
    }


default_cfgs = {name: _cfg() for name in CIFAR_RESNET_DEPTHS}


def _create_cifar_resnet(variant: str, pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    blocks = CIFAR_RESNET_DEPTHS[variant]
    kwargs.setdefault("layers", (blocks, blocks, blocks))
    feature_cfg = dict(out_indices=(0, 1, 2, 3))
    return build_model_with_cfg(CifarResNet, variant, pretrained, feature_cfg=feature_cfg, **kwargs)


def _register(fn):
    """`register_model`, once: this file may be imported twice (package and checkpoint remote code)."""
    if timm.is_model(fn.__name__):
        return fn
    return register_model(fn)


@_register
def cifar_resnet8(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-8 (1 block per stage): a small model for quick CPU runs."""
    return _create_cifar_resnet("cifar_resnet8", pretrained, **kwargs)


@_register
def cifar_resnet20(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-20 (3 blocks per stage)."""
    return _create_cifar_resnet("cifar_resnet20", pretrained, **kwargs)


@_register
def cifar_resnet32(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-32 (5 blocks per stage), the standard CIFAR-LT backbone (0.46 M parameters)."""
    return _create_cifar_resnet("cifar_resnet32", pretrained, **kwargs)


@_register
def cifar_resnet44(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-44 (7 blocks per stage)."""
    return _create_cifar_resnet("cifar_resnet44", pretrained, **kwargs)


@_register
def cifar_resnet56(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-56 (9 blocks per stage)."""
    return _create_cifar_resnet("cifar_resnet56", pretrained, **kwargs)


@_register
def cifar_resnet110(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-110 (18 blocks per stage)."""
    return _create_cifar_resnet("cifar_resnet110", pretrained, **kwargs)
