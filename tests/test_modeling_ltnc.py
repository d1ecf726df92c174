"""`LtncConfig` / `LtncModel` / `LtncForImageClassification`: heads, save/load, backbones, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    ViTConfig,
    ViTModel,
)

import ltnc_hf
from ltnc_hf.modeling import (
    HEAD_TYPES,
    CosineHead,
    EtfHead,
    LinearHead,
    LtncConfig,
    LtncForImageClassification,
    LtncImageClassifierOutput,
    LtncModel,
    simplex_etf,
)

pytestmark = pytest.mark.usefixtures("single_thread")


TINY_VIT = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
)


def make_model(seed: int = 0, **kwargs) -> LtncForImageClassification:
    torch.manual_seed(seed)
    kwargs.setdefault("backbone", "cifar_resnet8")
    kwargs.setdefault("num_labels", 10)
    return LtncForImageClassification(LtncConfig(**kwargs))


def images(batch: int = 4, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_public_names_and_auto_registration():
    assert ltnc_hf.LtncForImageClassification is LtncForImageClassification
    assert ltnc_hf.HEAD_TYPES == HEAD_TYPES == ("linear", "etf", "cosine")
    assert isinstance(AutoConfig.for_model("ltnc", num_labels=3), LtncConfig)
    config = LtncConfig(backbone="cifar_resnet8", num_labels=3)
    assert type(AutoModel.from_config(config)) is LtncModel
    assert type(AutoModelForImageClassification.from_config(config)) is LtncForImageClassification
    assert LtncForImageClassification.accepts_loss_kwargs is False
    assert LtncForImageClassification.main_input_name == "pixel_values"


@pytest.mark.parametrize(("head", "head_cls"), [("linear", LinearHead), ("cosine", CosineHead), ("etf", EtfHead)])
def test_forward_outputs_and_loss(head, head_cls):
    model = make_model(head=head).eval()
    x, y = images(), torch.tensor([0, 3, 5, 9])
    out = model(x, labels=y)
    assert isinstance(out, LtncImageClassifierOutput) and isinstance(model.classifier, head_cls)
    assert out.logits.shape == (4, 10) and out.features.shape == (4, model.feature_dim) == (4, 64)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, y))
    # features are exactly what the classifier sees
    torch.testing.assert_close(out.logits, model.classifier(out.features))
    base = model.ltnc(x)
    torch.testing.assert_close(base.features, out.features)
    torch.testing.assert_close(base.backbone_features, model.ltnc.backbone(x))
    soft = F.one_hot(y, 10).float()
    torch.testing.assert_close(model(x, labels=soft).loss, out.loss)
    loss, logits, features = model(x, labels=y, return_dict=False)
    torch.testing.assert_close(logits, out.logits)
    assert model.config.feature_norm == ("bn_l2" if head == "etf" else "none")


def test_linear_head_accessors_and_reset():
    model = make_model(head="linear")
    weight = model.classifier_parameter
    assert weight is model.classifier.weight and weight.shape == (10, 64)
    assert model.get_classifier_weight() is weight
    head_ids = {id(p) for p in model.head_parameters()}
    assert head_ids == {id(model.classifier.weight), id(model.classifier.bias)}
    assert head_ids.isdisjoint(id(p) for p in model.backbone_parameters())
    assert len(list(model.parameters())) == len(head_ids) + len(list(model.backbone_parameters()))
    state = torch.get_rng_state()
    model.reset_classifier(seed=7)
    first = weight.detach().clone()
    model.reset_classifier(seed=7)
    assert torch.equal(weight, first) and torch.equal(torch.get_rng_state(), state)
    model.reset_classifier(seed=8)
    assert not torch.equal(weight, first)
    bound = 1 / 64**0.5  # nn.Linear's default range
    assert weight.abs().max() <= bound and model.classifier.bias.abs().max() <= bound


def test_projection_and_l2_features():
    model = make_model(head="linear", projection_dim=16, feature_norm="l2").eval()
    out = model(images())
    assert model.feature_dim == 16 and out.features.shape == (4, 16)
    torch.testing.assert_close(out.features.norm(dim=1), torch.ones(4))
    assert model.ltnc.backbone_dim == 64


@pytest.mark.parametrize("head", HEAD_TYPES)
def test_save_and_auto_load_give_identical_logits(tmp_path, head):
    model = make_model(head=head, disa_target_etf=head != "etf", logit_scale=1.0 if head == "linear" else 10.0)
    # train a step so that the BatchNorm statistics and weights differ from any fresh initialisation
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(images(8), labels=torch.arange(8)).loss.backward()
    optimizer.step()
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is LtncForImageClassification
    x = images(seed=1)
    assert torch.equal(loaded(x).logits, model(x).logits)
    assert torch.equal(loaded(x).features, model(x).features)
    if model.get_target_etf() is not None:
        assert torch.equal(loaded.get_target_etf(), model.get_target_etf())
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is LtncModel and torch.equal(base(x).features, model(x).features)


def test_loaded_etf_is_never_replaced_and_a_missing_one_is_rebuilt(tmp_path):
    model = make_model(head="etf", etf_seed=4)
    with torch.no_grad():
        model.classifier.etf.copy_(model.classifier.etf[:, torch.arange(9, -1, -1)])  # not what seed 4 gives
    model.save_pretrained(tmp_path / "permuted")
    loaded = LtncForImageClassification.from_pretrained(tmp_path / "permuted")
    assert torch.equal(loaded.classifier.etf, model.classifier.etf)
    loaded.init_weights()
    assert torch.equal(loaded.classifier.etf, model.classifier.etf)
    # a linear-head checkpoint has no ETF: loading it with head="etf" builds the seeded ETF
    make_model(head="linear").save_pretrained(tmp_path / "linear")
    config = LtncConfig.from_pretrained(tmp_path / "linear", head="etf", etf_seed=4, feature_norm="none")
    rebuilt = LtncForImageClassification.from_pretrained(tmp_path / "linear", config=config)
    torch.testing.assert_close(rebuilt.classifier.etf, simplex_etf(10, 64, seed=4))


def test_meta_device_load_restores_timm_non_persistent_buffers(tmp_path):
    """transformers v5 loads on the meta device and leaves non-persistent buffers uninitialised; timm's relative
    position index must be recomputed (without it the forward indexes garbage)."""
    model = make_model(backbone="test_vit_relpos", backbone_kwargs={"img_size": 32}, num_labels=5).eval()
    assert model.config.image_size == 32
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    for (name, a), (_, b) in zip(model.named_buffers(), loaded.named_buffers()):
        assert torch.equal(a, b), name
    x = images(2, seed=2)
    assert torch.equal(loaded(x).logits, model(x).logits)


def test_tiny_transformers_vit_backbone_trains_and_round_trips(tmp_path):
    model = make_model(backbone="hf:vit", backbone_kwargs=TINY_VIT, num_labels=5, head="etf")
    assert isinstance(model.ltnc.backbone, ViTModel)
    assert model.feature_dim == 32 and model.config.image_size == 32
    assert model.config.backbone_config["model_type"] == "vit"
    x, y = images(6), torch.tensor([0, 1, 2, 3, 4, 0])
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = model(x, labels=y).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert unchanged == []
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded(x).logits, model(x).logits)


def test_pretrained_transformers_backbone_from_a_local_folder(tmp_path):
    torch.manual_seed(1)
    vit = ViTModel(ViTConfig(**TINY_VIT, num_channels=1))
    vit.save_pretrained(tmp_path / "vit")
    model = make_model(backbone=f"hf:{tmp_path / 'vit'}", pretrained_backbone=True, num_labels=3, num_channels=1)
    reference = vit.state_dict()
    loaded = model.ltnc.backbone.state_dict()
    assert reference.keys() == loaded.keys()
    assert all(torch.equal(reference[k], loaded[k]) for k in reference)  # not re-initialised by post_init
    assert model(images(2, channels=1)).logits.shape == (2, 3)


def test_pretrained_timm_backbone_is_not_clobbered(tmp_path):
    torch.manual_seed(3)
    import timm

    source = timm.create_model("cifar_resnet8", num_classes=0)
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    config = LtncConfig(
        backbone="cifar_resnet8",
        pretrained_backbone=True,
        backbone_kwargs={"pretrained_cfg_overlay": {"file": str(tmp_path / "weights.pth"), "num_classes": 0}},
        num_labels=4,
    )
    model = LtncForImageClassification(config)
    for key, value in source.state_dict().items():
        assert torch.equal(model.ltnc.backbone.state_dict()[key], value), key


@pytest.mark.parametrize("backbone", ["cifar_resnet8", "hf:vit"])
def test_activation_checkpointing_reaches_the_backbone(backbone):
    kwargs = TINY_VIT if backbone == "hf:vit" else {}
    model = make_model(backbone=backbone, backbone_kwargs=kwargs, num_labels=3)
    x, y = images(), torch.tensor([0, 1, 2, 0])
    model(x, labels=y).loss.backward()
    reference = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing
    if backbone == "hf:vit":
        assert any(getattr(module, "gradient_checkpointing", False) for module in model.ltnc.backbone.modules())
    else:
        assert model.ltnc.backbone.grad_checkpointing
    model(x, labels=y).loss.backward()
    for key, param in model.named_parameters():
        torch.testing.assert_close(param.grad, reference[key], msg=key)
    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing


# ---------------------------------------------------------------------------------------------------- bad input
def test_unknown_backbone_suggests_close_timm_names():
    with pytest.raises(ValueError, match=r"Unknown backbone 'resnet5O'.*'resnet50'"):
        LtncConfig(backbone="resnet5O")
    with pytest.raises(ValueError, match=r"cifar_resnet32"):
        LtncConfig(backbone="cifar_resnet23")


def test_unresolvable_transformers_backbone(tmp_path):
    config = LtncConfig(backbone=f"hf:{tmp_path / 'missing'}", num_labels=3)
    with pytest.raises(ValueError, match="Cannot resolve the transformers backbone"):
        LtncForImageClassification(config)


def test_unknown_head_and_feature_norm_list_the_choices():
    with pytest.raises(ValueError, match=r"Unknown head 'softmax', expected one of \('linear', 'etf', 'cosine'\)"):
        LtncConfig(head="softmax")
    with pytest.raises(ValueError, match=r"expected one of \('none', 'l2', 'bn_l2'\)"):
        LtncConfig(feature_norm="batchnorm")
    with pytest.raises(ValueError, match="does not apply to head='linear'"):
        LtncConfig(head="linear", logit_scale=30.0)
    with pytest.raises(ValueError, match="problem_type='multi_label_classification' is not supported"):
        LtncConfig(problem_type="multi_label_classification")


def test_etf_head_narrower_than_the_classes():
    with pytest.raises(ValueError, match=r"feature_dim >= num_labels \(got 64 < 100.*projection_dim=100"):
        make_model(head="etf", num_labels=100)
    with pytest.raises(ValueError, match=r"projection_dim=50 < num_labels=100.*projection_dim=100"):
        LtncConfig(head="etf", num_labels=100, projection_dim=50)
    with pytest.raises(ValueError, match=r"disa_target_etf=True needs feature_dim >= num_labels \(got 64 < 100"):
        make_model(head="linear", disa_target_etf=True, num_labels=100)
    model = make_model(head="etf", num_labels=100, projection_dim=128)  # the suggested fix works
    assert model.get_target_etf().shape == (128, 100)


def test_wrong_input_channels(tmp_path):
    model = make_model(backbone_kwargs={"in_chans": 1}, num_labels=3)
    assert model.config.num_channels == 1 and len(model.config.image_mean) == 1
    with pytest.raises(ValueError, match=r"pixel_values has 3 channels but the model expects 1.*convert\('L'\)"):
        model(images(2, channels=3))
    with pytest.raises(ValueError, match=r"shape \(batch, channels, height, width\)"):
        model(torch.randn(1, 32, 32))
    with pytest.raises(ValueError, match=r"num_channels=3 disagrees with backbone_kwargs\['in_chans'\]=1"):
        LtncConfig(backbone="cifar_resnet8", backbone_kwargs={"in_chans": 1}, num_channels=3)


def test_loading_into_a_different_number_of_labels(tmp_path):
    model = make_model(head="etf", num_labels=10)
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"10-class classifier but num_labels=7 was requested.*mismatched_sizes"):
        AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=7)
    config = LtncConfig.from_pretrained(tmp_path, num_labels=12)
    with pytest.raises(ValueError, match=r"10-class classifier but num_labels=12"):
        LtncForImageClassification.from_pretrained(tmp_path, config=config)
    # the documented way out: keep the backbone, re-initialise the classifier (here a new 7-class ETF)
    resized = AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=7, ignore_mismatched_sizes=True)
    assert resized.get_target_etf().shape == (64, 7)
    torch.testing.assert_close(resized.get_target_etf(), simplex_etf(7, 64))
    assert resized.classifier.etf_computed
    assert torch.equal(resized.ltnc.backbone.conv1.weight, model.ltnc.backbone.conv1.weight)


def test_image_processor_follows_the_evaluation_crop():
    from PIL import Image

    from ltnc_hf.data import create_transform
    from ltnc_hf.train import DataArguments, _eval_crop_pct

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)  # smooth content, so resamplers agree
    image = Image.fromarray(base).resize((160, 120), Image.BILINEAR)
    config = LtncConfig(backbone="cifar_resnet8", num_labels=3, image_size=64, crop_pct=0.875)
    processor = LtncForImageClassification(config).get_image_processor()
    assert processor.size == {"shortest_edge": 73} and processor.crop_size == {"height": 64, "width": 64}
    got = processor(image, return_tensors="pt")["pixel_values"][0]
    timm_eval = create_transform(
        "imagenet", train=False, image_size=64, mean=config.image_mean, std=config.image_std, in_chans=3
    )(image)
    assert got.shape == timm_eval.shape == (3, 64, 64)
    squash = LtncForImageClassification(LtncConfig(backbone="cifar_resnet8", num_labels=3, image_size=64))
    squashed = squash.get_image_processor()(image, return_tensors="pt")["pixel_values"][0]
    crop_error = (got - timm_eval).abs().mean().item()
    assert crop_error < 1e-3, crop_error  # the same geometry as timm's evaluation transform
    assert (squashed - timm_eval).abs().mean().item() > 5 * crop_error  # a straight resize is not
    # the training CLI sets it from the evaluation transform; a bad value is refused
    assert _eval_crop_pct(DataArguments(dataset="imagenet_lt", train_transform="imagenet")) == 0.875
    assert _eval_crop_pct(DataArguments(dataset="cifar10_lt")) is None
    with pytest.raises(ValueError, match="crop_pct must be in"):
        LtncConfig(backbone="cifar_resnet8", num_labels=3, crop_pct=1.5)
