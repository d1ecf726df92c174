"""Long-tailed subsets: counts, the LDAM-DRW selection (checked against a transcription of the original code),
index-only selection, recorded metadata, shot groups and the bad-input errors."""

import math

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Image, Value

from ltnc_hf.data import (
    class_counts,
    get_labels,
    long_tail_counts,
    long_tail_indices,
    long_tail_info,
    make_long_tailed,
    shot_groups,
)


def ldam_drw_reference(targets, cls_num, imb_factor, imb_type="exp", rand_number=0):
    """Transcription of `IMBALANCECIFAR` (kaidic/LDAM-DRW, imbalance_cifar.py): `get_img_num_per_cls` and
    `gen_imbalanced_data`, with the global NumPy RNG seeded once as the original does (state restored after)."""
    state = np.random.get_state()
    try:
        np.random.seed(rand_number)
        img_max = len(targets) / cls_num
        img_num_per_cls = []
        if imb_type == "exp":
            for cls_idx in range(cls_num):
                num = img_max * (imb_factor ** (cls_idx / (cls_num - 1.0)))
                img_num_per_cls.append(int(num))
        else:
            for _cls_idx in range(cls_num // 2):
                img_num_per_cls.append(int(img_max))
            for _cls_idx in range(cls_num // 2):
                img_num_per_cls.append(int(img_max * imb_factor))
        new_indices = []
        targets_np = np.array(targets, dtype=np.int64)
        classes = np.unique(targets_np)
        for the_class, the_img_num in zip(classes, img_num_per_cls):
            idx = np.where(targets_np == the_class)[0]
            np.random.shuffle(idx)
            selec_idx = idx[:the_img_num]
            new_indices.append(selec_idx)
        return np.concatenate(new_indices), img_num_per_cls
    finally:
        np.random.set_state(state)


def cifar_like_labels(num_classes, per_class, seed):
    return np.random.RandomState(seed).permutation(np.repeat(np.arange(num_classes), per_class))


def label_dataset(labels, num_classes=None, names=None):
    """A labels-only dataset with an `idx` column, so a subset's source rows can be read back."""
    label = ClassLabel(names=names) if names is not None else ClassLabel(num_classes=num_classes)
    return Dataset.from_dict(
        {"idx": np.arange(len(labels)), "label": np.asarray(labels)},
        features=Features({"idx": Value("int64"), "label": label}),
    )


# ----------------------------------------------------------------------------- counts


def test_exp_counts_match_the_formula():
    for max_count, k, rho in [(5000, 10, 100), (500, 100, 100), (6000, 10, 100), (5000, 10, 10), (500, 100, 50)]:
        expected = [int(max_count * (1 / rho) ** (i / (k - 1))) for i in range(k)]
        assert long_tail_counts(max_count, k, rho) == expected
    assert sum(long_tail_counts(5000, 10, 100)) == 12406
    assert sum(long_tail_counts(500, 100, 100)) == 10847
    assert long_tail_counts(6000, 10, 100) == [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]


def test_step_profile_and_balanced():
    assert long_tail_counts(500, 10, 10, "step") == [500] * 5 + [50] * 5
    # odd K: the middle class joins the reduced half (LDAM-DRW would drop it)
    assert long_tail_counts(100, 5, 4, "step") == [100, 100, 25, 25, 25]
    assert long_tail_counts(300, 7, 1) == [300] * 7
    assert long_tail_counts(300, 1, 50) == [300]


def test_totals_on_cifar_like_label_arrays():
    for k, per_class, total in [(10, 5000, 12406), (100, 500, 10847)]:
        labels = cifar_like_labels(k, per_class, seed=k)
        assert len(labels) == 50000
        idx = long_tail_indices(labels, 100)
        assert len(idx) == total
        assert len(np.unique(idx)) == total
        assert np.bincount(labels[idx], minlength=k).tolist() == long_tail_counts(per_class, k, 100)


# ----------------------------------------------------------------------------- LDAM-DRW selection


@pytest.mark.parametrize(
    "num_classes,per_class,rho,imb_factor,seed",
    [(10, 5000, 100, 0.01, 0), (100, 500, 100, 0.01, 0), (10, 5000, 50, 0.02, 0), (100, 500, 10, 0.1, 3)],
)
def test_ldam_selection_matches_reference_index_for_index(num_classes, per_class, rho, imb_factor, seed):
    labels = cifar_like_labels(num_classes, per_class, seed=7 + num_classes)
    reference, ref_counts = ldam_drw_reference(labels.tolist(), num_classes, imb_factor, rand_number=seed)
    ours = long_tail_indices(labels, rho, seed=seed)
    np.testing.assert_array_equal(ours, reference)
    # through datasets: same rows, same order
    subset = make_long_tailed(label_dataset(labels, num_classes), rho, seed=seed)
    np.testing.assert_array_equal(np.asarray(subset.with_format("numpy")["idx"][:]), reference)
    assert class_counts(subset) == ref_counts


def test_ldam_step_profile_matches_reference():
    labels = cifar_like_labels(10, 500, seed=1)
    reference, _ = ldam_drw_reference(labels.tolist(), 10, 0.1, imb_type="step")
    np.testing.assert_array_equal(long_tail_indices(labels, 10, profile="step"), reference)


def test_first_and_random_selections():
    labels = cifar_like_labels(5, 40, seed=2)
    counts = long_tail_counts(40, 5, 8)
    first = long_tail_indices(labels, 8, selection="first")
    for k in range(5):
        np.testing.assert_array_equal(first[labels[first] == k], np.flatnonzero(labels == k)[: counts[k]])
    assert np.all(np.diff(first) > 0)
    r1 = long_tail_indices(labels, 8, selection="random", seed=5)
    r2 = long_tail_indices(labels, 8, selection="random", seed=5)
    r3 = long_tail_indices(labels, 8, selection="random", seed=6)
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(r1, r3)
    assert np.bincount(labels[r1]).tolist() == counts


def test_max_count_argument():
    labels = cifar_like_labels(4, 30, seed=0)
    idx = long_tail_indices(labels, 10, max_count=20)
    assert np.bincount(labels[idx]).tolist() == long_tail_counts(20, 4, 10)


# ----------------------------------------------------------------------------- datasets integration


def tiny_image_dataset(labels, names):
    images = np.random.RandomState(0).randint(0, 255, size=(len(labels), 4, 4, 3), dtype=np.uint8)
    return Dataset.from_dict(
        {"image": list(images), "label": list(labels)},
        features=Features({"image": Image(), "label": ClassLabel(names=names)}),
    )


def test_make_long_tailed_does_not_decode_images(monkeypatch):
    labels = cifar_like_labels(3, 40, seed=0)
    ds = tiny_image_dataset(labels, ["a", "b", "c"])
    calls = []
    original = Image.decode_example

    def counting(self, value, token_per_repo_id=None):
        calls.append(1)
        return original(self, value, token_per_repo_id=token_per_repo_id)

    monkeypatch.setattr(Image, "decode_example", counting)
    lt = make_long_tailed(ds, 4)
    assert class_counts(lt) == [40, 20, 10]
    assert get_labels(lt).tolist() == labels[long_tail_indices(labels, 4)].tolist()
    assert calls == []
    lt[0]["image"]  # the counter does see decoding
    assert len(calls) == 1


def test_labels_honour_select_indices():
    ds = label_dataset([0, 1, 2, 0, 1, 2], num_classes=3).select([5, 4, 0])
    assert get_labels(ds).tolist() == [2, 1, 0]
    assert class_counts(ds) == [1, 1, 1]
    # the Arrow table below the mapping still has all rows: the trap get_labels avoids
    assert len(ds.data.column("label")) == 6


def test_nested_selection_and_class_counts_with_empty_class():
    ds = label_dataset(cifar_like_labels(4, 30, seed=3), num_classes=4)
    lt = make_long_tailed(make_long_tailed(ds, 1), 10)
    assert class_counts(lt) == long_tail_counts(30, 4, 10)
    assert class_counts(label_dataset([0, 0, 2], num_classes=4)) == [2, 0, 1, 0]


def test_record_in_description_survives_save_and_load(tmp_path):
    from datasets import load_from_disk

    ds = label_dataset(cifar_like_labels(5, 20, seed=4), num_classes=5)
    lt = make_long_tailed(ds, 10, selection="first", seed=3)
    info = long_tail_info(lt)
    assert info["imbalance_factor"] == 10.0
    assert (info["profile"], info["selection"], info["seed"], info["max_count"]) == ("exp", "first", 3, 20)
    assert info["class_counts"] == class_counts(lt) == long_tail_counts(20, 5, 10)
    assert info["source_num_examples"] == 100
    assert long_tail_info(ds) is None
    lt.save_to_disk(str(tmp_path / "lt"))
    again = load_from_disk(str(tmp_path / "lt"))
    assert long_tail_info(again) == info
    assert class_counts(again) == info["class_counts"]


def test_global_rng_untouched():
    np_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    labels = cifar_like_labels(10, 50, seed=0)
    ds = label_dataset(labels, num_classes=10)
    for selection in ("ldam", "first", "random"):
        make_long_tailed(ds, 10, selection=selection, seed=11)
    after = np.random.get_state()
    assert np_state[0] == after[0] and np.array_equal(np_state[1], after[1]) and np_state[2:] == after[2:]
    assert torch.equal(torch_state, torch.get_rng_state())


# ----------------------------------------------------------------------------- shot groups


def test_shot_groups_thresholds():
    counts = [500, 101, 100, 50, 20, 19, 1]
    assert shot_groups(counts) == {"many": [0, 1], "medium": [2, 3, 4], "few": [5, 6]}
    # OLTR convention (>= 100 many, <= 20 few)
    assert shot_groups(counts, many=99, few=21) == {"many": [0, 1, 2], "medium": [3], "few": [4, 5, 6]}
    groups = shot_groups(long_tail_counts(500, 100, 100))
    assert sum(len(v) for v in groups.values()) == 100
    assert min(long_tail_counts(500, 100, 100)[k] for k in groups["many"]) > 100
    with pytest.raises(ValueError, match="few=50 must be <= many=20"):
        shot_groups(counts, many=20, few=50)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("rho", [0.5, 0, -3])
def test_rho_below_one(rho):
    with pytest.raises(ValueError, match=rf"imbalance_factor={rho}.*>= 1.*imbalance_factor=100"):
        long_tail_counts(100, 10, rho)


@pytest.mark.parametrize("rho", ["100", None, float("nan"), math.inf, True, [100]])
def test_rho_not_a_number(rho):
    with pytest.raises(ValueError, match="not a finite number.*Pass e.g. imbalance_factor=100"):
        make_long_tailed(label_dataset([0, 1], num_classes=2), rho)


def test_rho_fraction_hint():
    with pytest.raises(ValueError, match="did you mean 100"):
        long_tail_counts(100, 10, 0.01)


def test_class_rounding_to_zero_names_class_and_largest_rho():
    names = [f"class-{k}" for k in range(10)]
    ds = label_dataset(cifar_like_labels(10, 100, seed=0), names=names)
    with pytest.raises(
        ValueError, match=r"class 8 \('class-8'\) with 0 examples.*largest imbalance_factor that works is 100"
    ):
        make_long_tailed(ds, 200)
    assert min(long_tail_counts(100, 10, 100)) == 1
    # int(49 * (1 / 49)) == 0 in floating point: the suggested value must really work
    with pytest.raises(ValueError, match=r"class 9 with 0 examples.*works is 48\.999999:") as err:
        long_tail_counts(49, 10, 49)
    suggested = float(str(err.value).split("works is ")[1].split(":")[0])
    assert min(long_tail_counts(49, 10, suggested)) == 1


def test_missing_label_column_lists_columns():
    ds = Dataset.from_dict({"img": [1, 2], "target": [0, 1]})
    with pytest.raises(ValueError, match=r"label_column='label'.*columns are \['img', 'target'\].*label_column="):
        make_long_tailed(ds, 2)
    assert class_counts(ds, label_column="target") == [1, 1]


def test_labels_outside_classlabel_range():
    unlabelled = label_dataset([0, 1, -1, 1, 0], num_classes=2)
    with pytest.raises(ValueError, match=r"1 labels outside the ClassLabel range \[0, 2\).*\[-1\].*filter"):
        make_long_tailed(unlabelled, 1)
    # cast_column does not check the range, so such datasets exist
    too_big = Dataset.from_dict({"label": [0, 1, 5, 7]}).cast_column("label", ClassLabel(num_classes=3))
    with pytest.raises(ValueError, match=r"2 labels outside the ClassLabel range \[0, 3\) \(e\.g\. \[5, 7\]\)"):
        class_counts(too_big)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match=r"Unknown profile 'linear'; expected one of \('exp', 'step'\)"):
        long_tail_counts(10, 3, 2, "linear")
    with pytest.raises(ValueError, match=r"Unknown selection 'topk'; expected one of \('ldam', 'first', 'random'\)"):
        long_tail_indices([0, 1], 2, selection="topk")
    with pytest.raises(ValueError, match=r"class 1 \('b'\) has no examples"):
        make_long_tailed(label_dataset([0, 0, 2, 2], names=["a", "b", "c"]), 1)
    with pytest.raises(ValueError, match=r"class 1 has 3 examples but .* asks for 4; pass max_count <= 3"):
        long_tail_indices([0] * 5 + [1] * 3, 1.25, max_count=5)
    with pytest.raises(ValueError, match=r"holds .* values of shape \(\).*class_encode_column"):
        get_labels(Dataset.from_dict({"label": ["cat", "dog"]}))
