"""NeuralCollapseCallback history (record, persist, resume) and LongTailMetrics inside a real Trainer run."""

import json
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import Trainer, TrainerControl, TrainerState, TrainingArguments
from transformers.utils import ModelOutput

from ltnc_hf.metrics import LongTailMetrics, NeuralCollapseCallback


def fake_eval(callback, args, state, step, epoch, **metrics):
    state.global_step, state.epoch = step, epoch
    logged = {f"eval_{k}": v for k, v in metrics.items()}
    logged.update(eval_runtime=0.1, eval_samples_per_second=10.0, epoch=epoch)
    state.log_history.append({**logged, "step": step})
    callback.on_evaluate(args, state, TrainerControl(), metrics=logged)


def test_history_recorded_saved_and_plotted(tmp_path):
    args = SimpleNamespace(output_dir=str(tmp_path))
    state = TrainerState()
    cb = NeuralCollapseCallback()
    cb.on_train_begin(args, state, TrainerControl())
    fake_eval(cb, args, state, 10, 1.0, accuracy=0.5, nc1=2.0, spa_cosine=0.1)
    fake_eval(cb, args, state, 20, 2.0, accuracy=0.6, nc1=1.0, spa_cosine=0.3, few_accuracy=float("nan"))
    # a second eval dataset at the same step is merged into the same entry
    cb.on_evaluate(args, state, TrainerControl(), metrics={"eval_cifar_nc1": 0.9, "epoch": 2.0})
    assert cb.history == [
        {"step": 10, "epoch": 1.0, "accuracy": 0.5, "nc1": 2.0, "spa_cosine": 0.1},
        {"step": 20, "epoch": 2.0, "accuracy": 0.6, "nc1": 1.0, "spa_cosine": 0.3, "cifar_nc1": 0.9},
    ]
    saved = json.loads((tmp_path / "nc_history.json").read_text())
    assert saved == cb.history
    cb.on_train_end(args, state, TrainerControl())
    assert (tmp_path / "nc_traces.png").stat().st_size > 1000


def test_resume_restores_history_up_to_checkpoint(tmp_path):
    args = SimpleNamespace(output_dir=str(tmp_path))
    state = TrainerState()
    cb = NeuralCollapseCallback(plot_at_end=False)
    cb.on_train_begin(args, state, TrainerControl())
    for step in (10, 20, 30):
        fake_eval(cb, args, state, step, step / 10, nc1=1.0 / step)
    # resume from the checkpoint at step 20: the entry of step 30 (after the checkpoint) is dropped
    resumed_state = TrainerState(global_step=20, log_history=[h for h in state.log_history if h["step"] <= 20])
    fresh = NeuralCollapseCallback(plot_at_end=False)
    fresh.on_train_begin(args, resumed_state, TrainerControl())
    assert [e["step"] for e in fresh.history] == [10, 20]
    assert fresh.history[1]["nc1"] == pytest.approx(1 / 20)
    # without the history file, the checkpoint's log history is used
    (tmp_path / "nc_history.json").unlink()
    rebuilt = NeuralCollapseCallback(plot_at_end=False)
    rebuilt.on_train_begin(args, resumed_state, TrainerControl())
    assert rebuilt.history == fresh.history
    # a fresh run (global_step 0) starts an empty history
    new = NeuralCollapseCallback()
    new.history = [{"step": 1}]
    new.on_train_begin(args, TrainerState(), TrainerControl())
    assert new.history == []


@dataclass
class TinyOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    features: torch.Tensor | None = None


class TinyModel(nn.Module):
    """Model interface of LtncForImageClassification: logits + features, get_classifier_weight()."""

    def __init__(self, in_dim, dim, num_classes):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.body = nn.Linear(in_dim, dim)
        self.head = nn.Linear(dim, num_classes, bias=False)
        with torch.no_grad():
            self.body.weight.copy_(torch.randn(dim, in_dim, generator=gen) * 0.3)
            self.head.weight.copy_(torch.randn(num_classes, dim, generator=gen) * 0.3)

    def get_classifier_weight(self):
        return self.head.weight

    def forward(self, pixel_values, labels=None, **kwargs):
        features = torch.relu(self.body(pixel_values.flatten(1)))
        logits = self.head(features)
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return TinyOutput(loss=loss, logits=logits, features=features)


class DictDataset(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def test_trainer_integration(tmp_path):
    torch.manual_seed(0)
    counts = [120, 60, 25, 10]
    gen = torch.Generator().manual_seed(1)
    protos = torch.randn(4, 1, 4, 4, generator=gen) * 2
    y_train = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)])
    x_train = protos[y_train] + torch.randn(len(y_train), 1, 4, 4, generator=gen)
    y_test = torch.arange(4).repeat(10)
    x_test = protos[y_test] + torch.randn(len(y_test), 1, 4, 4, generator=gen)
    model = TinyModel(16, 8, 4)
    callback = NeuralCollapseCallback()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=2,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=16,
        learning_rate=0.05,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=DictDataset(x_train, y_train),
        eval_dataset=DictDataset(x_test, y_test),
        compute_metrics=LongTailMetrics(counts, classifier_weight_fn=model.get_classifier_weight),
        callbacks=[callback],
    )
    trainer.train()
    assert [e["epoch"] for e in callback.history] == [1.0, 2.0]
    last = callback.history[-1]
    for key in ("accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "nc1", "nc3", "nc4", "spa_cosine"):
        assert key in last, key
    # the recorded values are those the Trainer logged (eval_ prefix stripped)
    logged = [h for h in trainer.state.log_history if "eval_nc1" in h][-1]
    assert last["nc1"] == logged["eval_nc1"]
    # and equal a direct computation on the final model
    with torch.no_grad():
        out = model(pixel_values=x_test)
    direct = LongTailMetrics(counts, classifier_weight_fn=model.get_classifier_weight)(
        SimpleNamespace(predictions=(out.logits.numpy(), out.features.numpy()), label_ids=y_test.numpy())
    )
    assert last["nc1"] == pytest.approx(direct["nc1"], rel=1e-5)
    assert last["accuracy"] == pytest.approx(direct["accuracy"])
    assert np.isfinite(last["nc1"])
    assert json.loads((tmp_path / "nc_history.json").read_text()) == callback.history
    assert (tmp_path / "nc_traces.png").exists()
