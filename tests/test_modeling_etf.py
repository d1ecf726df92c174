"""Simplex ETF geometry, seeding, and the frozen ETF head."""

from __future__ import annotations

import math

import pytest
import torch

import ltnc_hf
from ltnc_hf.modeling import EtfHead, LtncConfig, LtncForImageClassification, simplex_etf, spread_unit_vectors

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize(("num_classes", "dim"), [(10, 64), (100, 128), (1000, 2048)])
def test_simplex_etf_geometry(num_classes, dim):
    etf = simplex_etf(num_classes, dim, seed=3, dtype=torch.float64)
    assert etf.shape == (dim, num_classes) and etf.dtype == torch.float64
    # Reference Gram matrix of a simplex ETF, written independently of the construction.
    k = num_classes
    expected_gram = torch.full((k, k), -1.0 / (k - 1), dtype=torch.float64)
    expected_gram.fill_diagonal_(1.0)
    torch.testing.assert_close(etf.T @ etf, expected_gram, atol=1e-10, rtol=0)
    torch.testing.assert_close(etf.sum(dim=1), torch.zeros(dim, dtype=torch.float64), atol=1e-10, rtol=0)


def test_simplex_etf_float32_default():
    etf32 = simplex_etf(10, 64, seed=3)
    assert etf32.dtype == torch.float32 and etf32.is_contiguous()
    torch.testing.assert_close(etf32, simplex_etf(10, 64, seed=3, dtype=torch.float64).float())


def test_simplex_etf_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a = simplex_etf(10, 64, seed=0)
    b = simplex_etf(10, 64, seed=0)
    c = simplex_etf(10, 64, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.equal(ltnc_hf.simplex_etf(10, 64), a)


def test_simplex_etf_needs_dim_at_least_num_classes():
    with pytest.raises(ValueError, match=r"dim=64 < num_classes=100.*projection_dim=100"):
        simplex_etf(100, 64)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        simplex_etf(1, 64)
    simplex_etf(64, 64)  # d == K is allowed


def tiny_model(**kwargs) -> LtncForImageClassification:
    torch.manual_seed(0)
    kwargs.setdefault("backbone", "cifar_resnet8")
    kwargs.setdefault("num_labels", 10)
    return LtncForImageClassification(LtncConfig(**kwargs))


def test_etf_head_is_a_frozen_persistent_buffer():
    model = tiny_model(head="etf", etf_seed=5)
    head = model.classifier
    assert isinstance(head, EtfHead)
    assert "classifier.etf" in model.state_dict()
    assert not any("etf" in name for name, _ in model.named_parameters())
    assert list(model.head_parameters()) == [] and model.classifier_parameter is None
    torch.testing.assert_close(head.etf, simplex_etf(10, 64, seed=5))
    assert model.get_target_etf() is head.etf
    torch.testing.assert_close(model.get_classifier_weight(), head.etf.T)
    # ETF-DR layout: BatchNorm1d -> L2 -> h @ M; the features are what the head sees.
    model.eval()
    out = model(torch.randn(3, 3, 32, 32))
    torch.testing.assert_close(out.features.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(out.logits, out.features @ head.etf)
    assert isinstance(model.ltnc.neck.bn, torch.nn.BatchNorm1d)


def test_etf_unchanged_by_training_while_the_backbone_learns():
    model = tiny_model(head="etf")
    etf_before = model.classifier.etf.clone()
    backbone_before = {k: v.detach().clone() for k, v in model.ltnc.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 32, 32, generator=generator)
    y = torch.arange(8)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = model(x, labels=y).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert torch.equal(model.classifier.etf, etf_before)
    changed = [k for k, v in model.ltnc.named_parameters() if not torch.equal(v, backbone_before[k])]
    assert changed == list(backbone_before)  # every backbone/neck weight moved
    assert losses[-1] < losses[0]


def test_disa_target_etf_next_to_a_learnable_head():
    model = tiny_model(head="cosine", disa_target_etf=True, etf_seed=2, logit_scale=16.0)
    target = model.get_target_etf()
    torch.testing.assert_close(target, simplex_etf(10, 64, seed=2))
    assert "disa_target.etf" in model.state_dict()
    weight = model.classifier_parameter
    assert isinstance(weight, torch.nn.Parameter) and weight.shape == (10, 64)
    assert model.get_classifier_weight() is weight
    assert {id(p) for p in model.head_parameters()} == {id(weight)}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    before = weight.detach().clone()
    model(torch.randn(4, 3, 32, 32), labels=torch.arange(4)).loss.backward()
    optimizer.step()
    assert not torch.equal(weight, before)
    torch.testing.assert_close(model.get_target_etf(), simplex_etf(10, 64, seed=2))
    # cosine logits: scale * cos(h, w_k)
    model.eval()
    out = model(torch.randn(2, 3, 32, 32))
    reference = 16.0 * torch.nn.functional.cosine_similarity(out.features[:, None], weight[None], dim=-1)
    torch.testing.assert_close(out.logits, reference)
    # the ETF head is its own DisA target: no second buffer
    etf_model = tiny_model(head="etf", disa_target_etf=True)
    assert etf_model.disa_target is None and etf_model.get_target_etf() is etf_model.classifier.etf
    assert tiny_model(head="linear").get_target_etf() is None


# ---------------------------------------------------------------------------------------------- K > d (stretch)
def pairwise_cosines(vectors: torch.Tensor) -> torch.Tensor:
    unit = vectors.double() / vectors.double().norm(dim=0)
    gram = unit.T @ unit
    return gram[~torch.eye(gram.shape[0], dtype=torch.bool)]


def welch_bound(k: int, d: int) -> float:
    return math.sqrt((k - d) / (d * (k - 1)))


def test_spread_unit_vectors_is_the_etf_when_it_exists():
    assert torch.equal(spread_unit_vectors(10, 64, seed=4), simplex_etf(10, 64, seed=4))
    vectors = spread_unit_vectors(13, 12, seed=0, dtype=torch.float64)  # K = d + 1: simplex in R^d
    cosines = pairwise_cosines(vectors)
    torch.testing.assert_close(cosines, torch.full_like(cosines, -1 / 12), atol=1e-12, rtol=0)
    assert abs(cosines.abs().max().item() - welch_bound(13, 12)) < 1e-12  # equiangular: meets the Welch bound


@pytest.mark.parametrize(("num_classes", "dim"), [(14, 12), (20, 12), (24, 12)])
def test_spread_unit_vectors_reaches_max_cosine_zero_up_to_2d(num_classes, dim):
    """d + 1 < K <= 2d: the best possible largest cosine is exactly 0 (Rankin's bound)."""
    state = torch.get_rng_state()
    vectors = spread_unit_vectors(num_classes, dim, seed=1, dtype=torch.float64)
    assert torch.equal(torch.get_rng_state(), state)
    assert vectors.shape == (dim, num_classes)
    torch.testing.assert_close(vectors.norm(dim=0), torch.ones(num_classes, dtype=torch.float64))
    assert abs(pairwise_cosines(vectors).max().item()) < 1e-12
    torch.testing.assert_close(vectors.sum(dim=1), torch.zeros(dim, dtype=torch.float64), atol=1e-12, rtol=0)
    assert torch.equal(vectors, spread_unit_vectors(num_classes, dim, seed=1, dtype=torch.float64))
    assert not torch.allclose(vectors, spread_unit_vectors(num_classes, dim, seed=2, dtype=torch.float64))


def test_spread_unit_vectors_numerical_cases():
    k, d = 40, 8
    gaussian = torch.randn(d, k, generator=torch.Generator().manual_seed(0))
    random_max = pairwise_cosines(gaussian).max().item()
    spread = spread_unit_vectors(k, d, seed=0, num_steps=300)
    torch.testing.assert_close(spread.norm(dim=0), torch.ones(k))
    assert pairwise_cosines(spread).max().item() < 0.6 * random_max
    coherent = spread_unit_vectors(k, d, seed=0, criterion="coherence", num_steps=300)
    coherence = pairwise_cosines(coherent).abs().max().item()
    assert welch_bound(k, d) <= coherence < 1.35 * welch_bound(k, d)
    assert torch.equal(coherent, spread_unit_vectors(k, d, seed=0, criterion="coherence", num_steps=300))
    with pytest.raises(ValueError, match=r"expected one of \('max_cosine', 'coherence'\)"):
        spread_unit_vectors(k, d, criterion="energy")


def _narrow_model(tmp_path=None, **kwargs):
    config = LtncConfig(
        backbone="cifar_resnet8", backbone_kwargs={"width": 4}, num_labels=40, image_size=16, etf_seed=3, **kwargs
    )  # 16-d features, 40 classes: no simplex ETF exists
    return LtncForImageClassification(config)


def test_spread_etf_head_for_more_classes_than_dimensions(tmp_path):
    with pytest.raises(ValueError, match="etf_kind='spread'"):
        _narrow_model(head="etf")
    with pytest.raises(ValueError, match="Unknown etf_kind 'spred'.*Did you mean 'spread'"):
        _narrow_model(head="etf", etf_kind="spred")
    model = _narrow_model(head="etf", etf_kind="spread")
    etf = model.get_target_etf()
    assert etf.shape == (16, 40)
    torch.testing.assert_close(etf, spread_unit_vectors(40, 16, seed=3))
    assert pairwise_cosines(etf).max() < 0.5  # evenly spread, not a random draw (largest cosine ~0.7 for random)
    # saved and reloaded as the same buffer, and learnable heads get a spread DisA target the same way
    model.save_pretrained(tmp_path / "m")
    reloaded = LtncForImageClassification.from_pretrained(tmp_path / "m")
    assert reloaded.config.etf_kind == "spread"
    torch.testing.assert_close(reloaded.get_target_etf(), etf)
    target = _narrow_model(head="linear", disa_target_etf=True, etf_kind="spread").get_target_etf()
    torch.testing.assert_close(target, etf)
    # where the simplex exists, "spread" is the simplex
    wide = tiny_model(head="etf", etf_kind="spread", etf_seed=2).get_target_etf()
    torch.testing.assert_close(wide, simplex_etf(10, 64, seed=2))
