"""`create_loss` and the bad-input contract of the supervised losses."""

from __future__ import annotations

import pytest
import torch

from ltnc_hf.losses import LOSS_TYPES, LOSSES_USING_CLASS_COUNTS, SupervisedLoss, create_loss, drw_class_weights

COUNTS = [50, 20, 5]


def _build(name):
    return create_loss(name, class_counts=COUNTS)


@pytest.mark.parametrize("name", LOSS_TYPES)
def test_every_name_builds_a_supervised_loss(name):
    loss_fn = _build(name)
    assert isinstance(loss_fn, SupervisedLoss) and isinstance(loss_fn, torch.nn.Module)
    assert loss_fn.requires_features is (name == "dot_regression")
    logits = torch.tanh(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    value = loss_fn(logits, torch.tensor([0, 1, 2, 1]), features=torch.randn(4, 3))
    assert value.ndim == 0 and bool(torch.isfinite(value))


def test_unknown_name_lists_loss_types():
    with pytest.raises(ValueError, match="Unknown loss type 'cross_entropy'") as err:
        create_loss("cross_entropy")
    assert str(LOSS_TYPES) in str(err.value)


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"does not take the option\(s\) \['gama'\]; its options are \['gamma'\]"):
        create_loss("focal", gama=2)


@pytest.mark.parametrize("name", LOSSES_USING_CLASS_COUNTS)
def test_count_based_losses_need_counts(name):
    with pytest.raises(ValueError, match="needs the per-class training counts"):
        create_loss(name)


@pytest.mark.parametrize("name", LOSSES_USING_CLASS_COUNTS)
@pytest.mark.parametrize("counts", ([50, 0, 5], [50, -1, 5], [50, float("nan"), 5]))
def test_non_positive_counts_raise(name, counts):
    with pytest.raises(ValueError, match=r"positive count for every class, but classes \[1\]"):
        create_loss(name, class_counts=counts)


def test_drw_weights_reject_zero_counts_and_bad_beta():
    with pytest.raises(ValueError, match="positive count"):
        drw_class_weights([3, 0])
    with pytest.raises(ValueError, match=r"beta` must be in \(0, 1\)"):
        drw_class_weights([3, 1], beta=1.0)


def test_counts_ignored_by_losses_that_do_not_use_them(caplog):
    with caplog.at_level("INFO", logger="ltnc_hf.losses"):
        create_loss("ce", class_counts=COUNTS)
    assert "does not use class counts" in caplog.text


@pytest.mark.parametrize("name", LOSS_TYPES)
@pytest.mark.parametrize("bad", ([0, 3, 1, 0], [0, -1, 1, 2]))
def test_labels_out_of_range_raise(name, bad):
    loss_fn = _build(name)
    logits = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        loss_fn(logits, torch.tensor(bad), features=torch.randn(4, 3))
    with pytest.raises(ValueError, match="labels_b"):
        loss_fn(logits, torch.tensor([0, 1, 2, 0]), labels_b=torch.tensor(bad), lam=0.5, features=torch.randn(4, 3))


def test_other_bad_inputs():
    loss_fn = _build("ce")
    logits, labels = torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="integer class ids"):
        loss_fn(logits, labels.float())
    with pytest.raises(ValueError, match="without `labels_b`"):
        loss_fn(logits, labels, lam=0.5)
    with pytest.raises(ValueError, match=r"lam` must be in \[0, 1\]"):
        loss_fn(logits, labels, labels_b=labels, lam=1.5)
    with pytest.raises(ValueError, match=r"class_weight` must have shape \(3,\)"):
        loss_fn(logits, labels, class_weight=torch.ones(4))
    with pytest.raises(ValueError, match="3 entries but the batch has 4"):
        loss_fn(logits, labels[:3])
    with pytest.raises(ValueError, match="built for 3 classes"):
        _build("ldam")(torch.zeros(4, 5), labels)
