"""evaluate_model on a tiny fake model and on a saved `ltnc` checkpoint, end to end."""

import json
import math
from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from datasets import Array3D, ClassLabel, Dataset, DatasetDict, Features, Image
from torch import nn

from ltnc_hf.metrics import evaluate_model, long_tail_accuracy, neural_collapse_metrics

K, DIM, SIDE = 4, 6, 4


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class FakeModel(nn.Module):
    """The interface evaluate_model relies on: logits, features, get_classifier_weight, get_target_etf."""

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.body = nn.Linear(SIDE * SIDE, DIM)
        self.head = nn.Linear(DIM, K)
        with torch.no_grad():
            self.body.weight.copy_(torch.randn(DIM, SIDE * SIDE, generator=gen))
            self.head.weight.copy_(torch.randn(K, DIM, generator=gen))
        u, _ = torch.linalg.qr(torch.randn(DIM, K, generator=gen))
        self.register_buffer("etf", math.sqrt(K / (K - 1)) * u @ (torch.eye(K) - 1.0 / K))

    def get_classifier_weight(self):
        return self.head.weight

    def get_target_etf(self):
        return self.etf

    def forward(self, pixel_values):
        features = self.body(pixel_values.flatten(1))
        return SimpleNamespace(logits=self.head(features), features=features)  # any object with the two fields


def pixel_split(counts, seed):
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(42).normal(size=(K, 1, SIDE, SIDE)) * 2
    labels = np.repeat(np.arange(K), counts)
    pixels = (protos[labels] + rng.normal(size=(len(labels), 1, SIDE, SIDE))).astype(np.float32)
    features = Features(
        {"pixel_values": Array3D(shape=(1, SIDE, SIDE), dtype="float32"), "label": ClassLabel(num_classes=K)}
    )
    return Dataset.from_dict({"pixel_values": pixels, "label": labels}, features=features).with_format("torch")


def test_evaluate_model_with_fake_model(tmp_path):
    train_counts = [150, 60, 25, 8]
    dataset = DatasetDict(train=pixel_split(train_counts, 0), test=pixel_split([12, 12, 12, 12], 1))
    model = FakeModel()
    out = evaluate_model(model, dataset, output_dir=tmp_path, batch_size=16, tsne_samples=40)

    # reference: run the model by hand and call the metric functions directly
    test = dataset["test"][:]
    with torch.no_grad():
        ref_out = model(pixel_values=test["pixel_values"])
    labels = test["label"].numpy()
    ref = long_tail_accuracy(ref_out.logits, labels, train_counts)
    ref_nc = neural_collapse_metrics(ref_out.features, labels, weight=model.head.weight, logits=ref_out.logits)
    assert out["train_class_counts"] == train_counts  # counted from the train split
    assert out["num_samples"] == 48 and out["split"] == "test"
    for key in ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "balanced_accuracy"):
        assert out[key] == pytest.approx(ref[key]), key
    for key in ("nc1", "nc2_equiangular", "nc3", "nc4", "spa_cosine", "trace_within"):
        assert out["neural_collapse"][key] == pytest.approx(ref_nc[key], rel=1e-5), key
    np.testing.assert_allclose(out["neural_collapse"]["class_mean_cosines"], ref_nc["class_mean_cosines"], atol=1e-6)

    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(out))
    expected = {
        "confusion_matrix": (6.5, 5.5),
        "per_class_accuracy": (7.0, 4.5),
        "class_mean_angles": (6.5, 5.5),
        "tsne": (7.0, 6.0),
        "transport_plan": (6.0, 6.0),
        "alignment_matrix": (6.0, 5.0),
    }
    assert set(out["plots"]) == set(expected)
    for name, (w, h) in expected.items():
        image = mpimg.imread(out["plots"][name])
        assert image.shape[:2] == (round(h * 100), round(w * 100)), name
    # the model is left in the mode it came in
    assert model.training


def test_evaluate_model_errors(tmp_path):
    dataset = DatasetDict(test=pixel_split([3, 3, 3, 3], 0))
    with pytest.raises(ValueError, match="train_class_counts"):
        evaluate_model(FakeModel(), dataset, output_dir=tmp_path)
    with pytest.raises(ValueError, match="splits"):
        evaluate_model(FakeModel(), dataset, split="validation", output_dir=tmp_path, train_class_counts=[5] * K)
    with pytest.raises(ValueError, match="predicts 4 classes"):
        evaluate_model(FakeModel(), dataset, output_dir=tmp_path, train_class_counts=[5] * 3)


def test_evaluate_saved_ltnc_checkpoint_from_raw_images(tmp_path):
    from ltnc_hf.modeling import LtncConfig, LtncForImageClassification

    torch.manual_seed(0)
    model = LtncForImageClassification(
        LtncConfig(backbone="cifar_resnet8", num_labels=3, id2label={0: "cat", 1: "dog", 2: "eel"}, head="etf")
    ).eval()
    model.save_pretrained(tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(12)]
    labels = [0, 1, 2] * 4
    test = Dataset.from_dict(
        {"image": images, "label": labels}, features=Features({"image": Image(), "label": ClassLabel(num_classes=3)})
    )
    out = evaluate_model(
        str(tmp_path / "ckpt"),
        test,
        output_dir=tmp_path / "eval",
        train_class_counts=[200, 50, 10],
        device="cpu",
        tsne_samples=0,
    )
    # same predictions as the checkpoint's own processor + model
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        logits = model(pixel_values=processor(images=list(test["image"]), return_tensors="pt")["pixel_values"]).logits
    assert out["accuracy"] == pytest.approx(long_tail_accuracy(logits, labels, [200, 50, 10])["accuracy"])
    assert out["model"] == str(tmp_path / "ckpt")
    assert "nc1" in out["neural_collapse"] and "transport_plan" in out["plots"]  # the etf head has a target ETF
    assert {"confusion_matrix", "per_class_accuracy", "class_mean_angles"} <= set(out["plots"])
