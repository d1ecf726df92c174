"""Class-aware samplers: determinism from (seed, epoch), class frequencies, sharding across replicas."""

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features
from torch.utils.data import DistributedSampler

from ltnc_hf.data import ClassAwareSampler, create_sampler

COUNTS = [1000, 200, 40, 10, 1]
LABELS = np.random.RandomState(0).permutation(np.repeat(np.arange(len(COUNTS)), COUNTS))


def test_deterministic_in_seed_and_epoch():
    a = ClassAwareSampler(LABELS, seed=3)
    b = ClassAwareSampler(LABELS, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) != first
    assert list(ClassAwareSampler(LABELS, seed=4)) != first
    a.set_epoch(0)
    assert list(a) == first


def _within(observed, expected_p, n):
    sigma = np.sqrt(n * expected_p * (1 - expected_p))
    return np.all(np.abs(observed - n * expected_p) <= 5 * sigma + 1)


@pytest.mark.parametrize("mode", ["balanced", "sqrt"])
def test_class_frequencies(mode):
    n = 60000
    sampler = ClassAwareSampler(LABELS, mode=mode, num_samples=n, seed=1)
    idx = np.array(list(sampler))
    assert len(idx) == len(sampler) == n
    freq = np.bincount(LABELS[idx], minlength=len(COUNTS))
    weights = np.ones(len(COUNTS)) if mode == "balanced" else np.sqrt(COUNTS)
    assert _within(freq, weights / weights.sum(), n), freq
    # within a class, instances are drawn uniformly
    members = np.flatnonzero(LABELS == 3)
    per_instance = np.bincount(np.searchsorted(members, idx[LABELS[idx] == 3]), minlength=10)
    assert _within(per_instance, np.full(10, 0.1), freq[3])
    assert set(idx[LABELS[idx] == 4]) == set(np.flatnonzero(LABELS == 4))


@pytest.mark.parametrize("drop_last", [False, True])
def test_sharding_two_ranks(drop_last):
    n = 1001
    single = list(ClassAwareSampler(LABELS, num_samples=n, num_replicas=1, rank=0, seed=7))
    ranks = [
        ClassAwareSampler(LABELS, num_samples=n, num_replicas=2, rank=r, seed=7, drop_last=drop_last) for r in (0, 1)
    ]
    for s in ranks:
        s.set_epoch(0)
    r0, r1 = list(ranks[0]), list(ranks[1])
    assert len(r0) == len(r1) == len(ranks[0]) == (500 if drop_last else 501)
    interleaved = [x for pair in zip(r0, r1) for x in pair]
    if drop_last:
        assert interleaved == single[:1000]
    else:  # padded by wrapping around, like DistributedSampler
        assert interleaved[:n] == single and interleaved[n:] == single[:1]
    # disjoint positions of the same draw: as multisets the two shards add up to it
    union = np.bincount(r0 + r1, minlength=len(LABELS))
    expected = np.bincount(interleaved, minlength=len(LABELS))
    assert np.array_equal(union, expected)


def test_random_sampler_and_factory():
    s0 = create_sampler("random", LABELS, num_replicas=2, rank=0, seed=1)
    s1 = create_sampler("random", LABELS, num_replicas=2, rank=1, seed=1)
    assert isinstance(s0, DistributedSampler)
    assert len(LABELS) == 1251 and len(s0) == len(s1) == 626  # padded by one, like any DistributedSampler
    assert set(s0) | set(s1) == set(range(len(LABELS)))
    before = list(s0)
    s0.set_epoch(1)
    assert list(s0) != before
    cb = create_sampler("class_balanced", LABELS, seed=2, num_samples=100)
    assert isinstance(cb, ClassAwareSampler) and cb.mode == "balanced" and len(cb) == 100
    assert create_sampler("sqrt", LABELS).mode == "sqrt"
    ds = Dataset.from_dict({"label": LABELS}, features=Features({"label": ClassLabel(num_classes=5)}))
    assert list(create_sampler("sqrt", ds, seed=5)) == list(ClassAwareSampler(LABELS, mode="sqrt", seed=5))


def test_global_rng_untouched():
    state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    list(ClassAwareSampler(LABELS, seed=0))
    list(create_sampler("random", LABELS, num_replicas=1, rank=0))
    assert torch.equal(state, torch.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])


def test_bad_sampler_arguments():
    with pytest.raises(
        ValueError, match=r"Unknown sampler 'balanced'; expected one of \('random', 'class_balanced', 'sqrt'\)"
    ):
        create_sampler("balanced", LABELS)
    with pytest.raises(ValueError, match=r"Unknown mode 'inverse'; expected one of \('balanced', 'sqrt'\)"):
        ClassAwareSampler(LABELS, mode="inverse")
    with pytest.raises(ValueError, match=r"rank=2 must be in \[0, num_replicas=2\)"):
        ClassAwareSampler(LABELS, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_samples does not apply to the 'random' sampler"):
        create_sampler("random", LABELS, num_samples=10)
    with pytest.raises(ValueError, match="class ids >= 0"):
        ClassAwareSampler([0, -1, 1])
