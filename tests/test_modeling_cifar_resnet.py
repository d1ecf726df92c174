"""CIFAR ResNets registered with timm: architecture, parameter counts, timm interface."""

from __future__ import annotations

import math

import pytest
import timm
import torch

import ltnc_hf  # noqa: F401  (registers the models)
from ltnc_hf.modeling import CIFAR_RESNET_DEPTHS, CifarResNet
from ltnc_hf.modeling.cifar_resnet import ZeroPadShortcut

pytestmark = pytest.mark.usefixtures("single_thread")


def reference_param_count(blocks: int, width: int = 16, num_classes: int = 10, in_chans: int = 3) -> int:
    """Parameters of the 6n+2 CIFAR ResNet counted from the paper's description (option-A shortcuts: none)."""
    total = in_chans * width * 9 + 2 * width  # stem conv + BN
    in_chs = width
    for stage in range(3):
        chs = width * 2**stage
        for _ in range(blocks):
            total += in_chs * chs * 9 + chs * chs * 9 + 4 * chs  # two 3x3 convs + two BNs
            in_chs = chs
    return total + in_chs * num_classes + num_classes


def test_resnet32_has_the_standard_parameter_count():
    model = timm.create_model("cifar_resnet32", num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 464_154


@pytest.mark.parametrize("name", sorted(CIFAR_RESNET_DEPTHS))
def test_every_depth_matches_the_paper_count(name):
    blocks = CIFAR_RESNET_DEPTHS[name]
    assert 6 * blocks + 2 == int(name.removeprefix("cifar_resnet"))
    model = timm.create_model(name, num_classes=100)
    assert sum(p.numel() for p in model.parameters()) == reference_param_count(blocks, num_classes=100)


def test_shapes_and_timm_interface():
    model = timm.create_model("cifar_resnet20", num_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    feature_map = model.forward_features(x)
    assert feature_map.shape == (2, 64, 8, 8)
    pooled = model.forward_head(feature_map, pre_logits=True)
    assert pooled.shape == (2, 64) and model.num_features == 64
    torch.testing.assert_close(pooled, feature_map.mean(dim=(2, 3)))
    logits = model(x)
    assert logits.shape == (2, 7)
    torch.testing.assert_close(logits, model.get_classifier()(pooled))
    assert model.pretrained_cfg["input_size"] == (3, 32, 32)
    assert not model.pretrained_cfg.get("url") and not model.pretrained_cfg.get("hf_hub_id")
    assert model.default_cfg["num_classes"] == 10
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)
    model.reset_classifier(0)
    assert model(x).shape == (2, 64)
    assert set(timm.list_models("cifar_resnet*")) == set(CIFAR_RESNET_DEPTHS)


def test_width_and_in_chans():
    model = timm.create_model("cifar_resnet32", num_classes=0, width=32, in_chans=1)
    assert isinstance(model, CifarResNet)
    assert model.num_features == 128
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 128)
    assert model.conv1.weight.shape == (32, 1, 3, 3)
    assert sum(p.numel() for p in model.parameters()) == reference_param_count(5, width=32, num_classes=0, in_chans=1)


def test_features_only_gives_the_three_stages():
    model = timm.create_model("cifar_resnet8", features_only=True)
    shapes = [tuple(o.shape[1:]) for o in model(torch.randn(1, 3, 32, 32))]
    assert shapes == [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_option_a_shortcut_is_a_strided_zero_padded_identity():
    x = torch.randn(2, 16, 8, 8)
    out = ZeroPadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0
    blocks = [m for m in timm.create_model("cifar_resnet8").modules() if isinstance(m, ZeroPadShortcut)]
    assert len(blocks) == 2 and all(not list(b.parameters()) for b in blocks)


def test_kaiming_normal_initialisation():
    model = timm.create_model("cifar_resnet32", num_classes=10)
    weights = torch.cat([b.conv1.weight.flatten() for b in model.layer3[1:]])  # fan_in = 64 * 9
    assert weights.std().item() == pytest.approx(math.sqrt(2.0 / 576), rel=0.03)
    assert abs(weights.mean().item()) < 0.003
