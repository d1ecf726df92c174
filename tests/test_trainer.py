"""LtncTrainingArguments validation, LtncTrainer losses, hooks, cRT and exact resume."""

from __future__ import annotations

import os

import pytest
import torch
from _synthetic import synthetic_pixel_dataset
from transformers import TrainerCallback, set_seed

from ltnc_hf import LtncConfig, LtncForImageClassification, LtncTrainer, LtncTrainingArguments

COUNTS = [24, 12, 6, 4]


def _model(head="linear", disa_target_etf=False, seed=0):
    set_seed(seed)
    config = LtncConfig(
        backbone="cifar_resnet8",
        backbone_kwargs={"in_chans": 1},
        num_labels=len(COUNTS),
        head=head,
        disa_target_etf=disa_target_etf,
        image_size=8,
        num_channels=1,
    )
    return LtncForImageClassification(config)


def _args(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=0.05,
        max_steps=4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    base.update(kw)
    return LtncTrainingArguments(**base)


# ------------------------------------------------------------------------------------------------------------------
# arguments
# ------------------------------------------------------------------------------------------------------------------
def test_unknown_loss_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="Unknown loss_type 'foccal'.*Did you mean 'focal'"):
        _args(tmp_path, loss_type="foccal")


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"disa_epsilon": 0.5}, "disa_epsilon=0.5 has no effect because disa is off"),
        ({"spa_proj_gamma": 0.2, "spa": "reg"}, "spa_proj_gamma=0.2 has no effect"),
        ({"drw_start_epoch": 3}, "set drw=True"),
        ({"focal_gamma": 1.0}, "focal_gamma=1.0 applies only to loss_type"),
        ({"spa": "reg,foo"}, "Unknown spa mode 'foo'"),
        ({"disa": True, "disa_epsilon": 0.0}, "disa_epsilon must be > 0"),
        ({"stage": "crt", "disa": True}, "stage='crt' re-trains only the classifier"),
        ({"lr_step_epochs": "180,160"}, "increasing"),
        ({"sampler": "balanced"}, "Unknown sampler 'balanced'"),
        ({"lr_step_epochs": "160,180", "lr_scheduler_type": "cosine"}, "replace lr_scheduler_type='cosine'"),
        ({"lr_warmup_epochs": 5, "warmup_steps": 100}, "both set a warm-up"),
    ],
)
def test_invalid_combinations_fail_with_the_fix(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _args(tmp_path, **kw)


def test_disa_without_etf_is_refused(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    with pytest.raises(ValueError, match="disa=True needs a target simplex ETF"):
        LtncTrainer(model=_model("linear"), args=_args(tmp_path, disa=True), train_dataset=ds)


def test_spa_slerp_with_fixed_etf_head_is_refused(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    with pytest.raises(ValueError, match="SpA-SLERP edits a learnable classifier"):
        LtncTrainer(model=_model("etf"), args=_args(tmp_path, spa="slerp"), train_dataset=ds)


def test_spa_reg_reaches_the_features_with_a_fixed_etf_head(tmp_path):
    """ETF-DR + SpA-Reg: with a fixed ETF the regulariser acts through the class means of the batch."""
    from ltnc_hf.losses import spa_reg_loss

    ds = synthetic_pixel_dataset(COUNTS)
    model = _model("etf")
    with pytest.raises(ValueError, match="set spa_reg_feature_grad=True"):
        LtncTrainer(model=model, args=_args(tmp_path, spa="reg", loss_type="dot_regression"), train_dataset=ds)
    args = _args(tmp_path, spa="reg", spa_reg_feature_grad=True, loss_type="dot_regression", max_steps=3)
    trainer = LtncTrainer(model=model, args=args, train_dataset=ds)
    trainer.train()
    assert any("loss_spa_reg" in entry for entry in trainer.state.log_history)
    tracker = trainer.class_mean_tracker
    batch = ds[:16]
    features = model(pixel_values=batch["pixel_values"]).features
    centered = trainer._differentiable_centered_means(features, batch["label"], tracker)
    # the value is that of the running means ...
    assert torch.allclose(centered, tracker.centered_means(), atol=1e-6)
    # ... and the gradient reaches every feature of the batch
    reg = spa_reg_loss(model.get_classifier_weight(), centered, mask=tracker.seen)
    grad = torch.autograd.grad(reg, features)[0]
    assert torch.all(grad.norm(dim=1) > 0)


# ------------------------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------------------------
def test_class_counts_come_from_the_dataset(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    trainer = LtncTrainer(model=_model(), args=_args(tmp_path), train_dataset=ds)
    assert trainer.class_counts == COUNTS


def test_disa_spa_reg_inc_components_are_logged_and_weights_train(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    model = _model("linear", disa_target_etf=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    etf_before = model.get_target_etf().clone()
    args = _args(
        tmp_path, disa=True, disa_weight=1.0, spa="reg", inc=True, mixup_alpha=1.0, eval_strategy="steps", eval_steps=4
    )
    trainer = LtncTrainer(model=model, args=args, train_dataset=ds, eval_dataset=ds)
    trainer.train()
    logs = {k for entry in trainer.state.log_history for k in entry}
    for key in (
        "loss_supervised",
        "loss_disa",
        "loss_spa_reg",
        "loss_inc",
        "spa_tracker_cosine",
        "eval_loss_disa",
        "eval_loss_spa_reg",
        "eval_accuracy",
        "eval_medium_accuracy",
        "eval_nc1",
    ):
        assert key in logs, key
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert set(changed) == set(trainable)
    assert torch.equal(model.get_target_etf(), etf_before)  # the target ETF is frozen
    assert bool(trainer.class_mean_tracker.seen.all())


def test_spa_proj_callback_projects_the_gradient(tmp_path):
    """The hook removes, for every class, the tangential gradient component that moves w_c away from its mean."""
    ds = synthetic_pixel_dataset(COUNTS)
    raw, projected = [], []

    class Before(TrainerCallback):  # user callbacks run before the trainer's own hooks
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            raw.append(model.classifier_parameter.grad.detach().clone())

    model = _model("linear")
    trainer = LtncTrainer(
        model=model,
        args=_args(tmp_path, spa="proj", spa_proj_gamma=0.0, max_steps=3, learning_rate=0.0),
        train_dataset=ds,
        callbacks=[Before()],
    )

    class After(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            projected.append(
                (model.classifier_parameter.grad.detach().clone(), trainer.class_mean_tracker.centered_means().clone())
            )

    trainer.add_callback(After())
    trainer.train()
    weight = model.classifier_parameter.detach()  # lr = 0: the weight is the same at every step
    w_hat = torch.nn.functional.normalize(weight, dim=1)
    acted = False
    for g, (g_proj, means) in zip(raw, projected):
        g_rad = (g * w_hat).sum(1, keepdim=True) * w_hat
        g_tan = g - g_rad
        mu_hat = torch.nn.functional.normalize(means, dim=1)
        d_hat = torch.nn.functional.normalize(mu_hat - (mu_hat * w_hat).sum(1, keepdim=True) * w_hat, dim=1)
        p = (g_tan * d_hat).sum(1, keepdim=True)
        expected_tan = torch.where(p > 0, g_tan - p * d_hat, g_tan)
        proj_tan = g_proj - (g_proj * w_hat).sum(1, keepdim=True) * w_hat
        assert torch.allclose(proj_tan, expected_tan, atol=1e-6)
        assert torch.all((proj_tan * d_hat).sum(1) <= 1e-6)
        acted = acted or bool((p > 0).any())
    assert acted, "the synthetic run should contain at least one harmful component to remove"


def test_spa_slerp_raises_alignment(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    model = _model("linear")
    args = _args(
        tmp_path,
        spa="slerp",
        spa_slerp_alpha_max=1.0,
        spa_slerp_tau=1.0,
        max_steps=-1,
        num_train_epochs=2,
        learning_rate=0.0,
    )
    trainer = LtncTrainer(model=model, args=args, train_dataset=ds)
    tracker = trainer.class_mean_tracker
    trainer.train()
    # with lr = 0 only SLERP moves the weights; at the last epoch alpha_t = alpha_max = 1: weights hit the means
    cos = torch.nn.functional.cosine_similarity(model.classifier_parameter.detach(), tracker.centered_means(), dim=1)
    assert trainer.slerp_callback.last_alpha == pytest.approx(1.0)
    assert torch.all(cos > 0.999)


def test_papers_step_schedule(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)  # 46 images, batch 8 -> 6 steps per epoch
    args = _args(
        tmp_path, max_steps=-1, num_train_epochs=4, lr_warmup_epochs=1, lr_step_epochs="2,3", learning_rate=0.1
    )
    lrs = []

    class Spy(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kw):
            lrs.append(optimizer.param_groups[0]["lr"])

    trainer = LtncTrainer(model=_model(), args=args, train_dataset=ds, callbacks=[Spy()])
    trainer.train()
    assert len(lrs) == 24
    assert lrs[0] == pytest.approx(0.1 / 6) and lrs[5] == pytest.approx(0.1)
    assert lrs[6:12] == pytest.approx([0.1] * 6)
    assert lrs[12:18] == pytest.approx([0.01] * 6)
    assert lrs[18:] == pytest.approx([0.001] * 6)


def test_crt_freezes_backbone_and_retrains_head(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    model = _model("linear")
    backbone = {
        n: p.detach().clone() for n, p in model.named_parameters() if "head" not in n and "classifier" not in n
    }
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    trainer = LtncTrainer(model=model, args=_args(tmp_path, stage="crt"), train_dataset=ds)
    assert trainer.args.sampler == "class_balanced"
    trainer.train()
    for n, p in model.named_parameters():
        if n in backbone:
            assert torch.equal(p, backbone[n]), n
    for n, b in model.named_buffers():  # BatchNorm running statistics stay those of the first stage
        assert torch.equal(b, buffers[n]), n


# ------------------------------------------------------------------------------------------------------------------
# resume
# ------------------------------------------------------------------------------------------------------------------
class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resume_gives_the_uninterrupted_weights(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    common = dict(
        max_steps=9,
        save_strategy="steps",
        save_steps=3,
        spa="reg",
        drw=True,
        drw_start_epoch=1,
        mixup_alpha=1.0,
        sampler="class_balanced",
        disa=True,
        disa_weight=1.0,
    )

    full = LtncTrainer(
        model=_model("linear", disa_target_etf=True), args=_args(tmp_path / "a", **common), train_dataset=ds
    )
    full.train()

    first = LtncTrainer(
        model=_model("linear", disa_target_etf=True),
        args=_args(tmp_path / "b", **common),
        train_dataset=ds,
        callbacks=[_StopAt(5)],
    )
    first.train()
    assert os.path.isdir(tmp_path / "b" / "run" / "checkpoint-3")
    resumed = LtncTrainer(
        model=_model("linear", disa_target_etf=True, seed=123), args=_args(tmp_path / "b", **common), train_dataset=ds
    )
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "run" / "checkpoint-3"))

    for (n, p), (_, q) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), n
    for (n, p), (_, q) in zip(
        full.class_mean_tracker.state_dict().items(), resumed.class_mean_tracker.state_dict().items()
    ):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), n


def test_resume_from_another_model_is_refused(tmp_path):
    ds = synthetic_pixel_dataset(COUNTS)
    trainer = LtncTrainer(
        model=_model("linear"),
        args=_args(tmp_path, max_steps=2, save_strategy="steps", save_steps=2),
        train_dataset=ds,
    )
    trainer.train()
    other = LtncTrainer(model=_model("cosine"), args=_args(tmp_path, max_steps=4), train_dataset=ds)
    with pytest.raises(ValueError, match="head='linear'"):
        other.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))


def test_sync_batchnorm_converts_only_with_several_gpu_processes(tmp_path):
    from types import SimpleNamespace

    model = _model()
    keys = set(model.state_dict())

    def args(world_size, device, stage="train"):
        return SimpleNamespace(sync_batchnorm=True, world_size=world_size, device=torch.device(device), stage=stage)

    assert LtncTrainer._maybe_sync_batchnorm(model, args(1, "cuda")) is model
    with pytest.raises(ValueError, match="sync_batchnorm=True needs GPU processes"):
        LtncTrainer._maybe_sync_batchnorm(model, args(2, "cpu"))
    converted = LtncTrainer._maybe_sync_batchnorm(model, args(2, "cuda"))
    norms = [m for m in converted.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert set(converted.state_dict()) == keys  # checkpoints keep the BatchNorm names and buffers
    # timm's norm + activation layers keep their activation (torch's converter would drop it)
    from timm.layers import BatchNormAct2d

    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), BatchNormAct2d(4, act_layer=torch.nn.ReLU)).eval()
    x = torch.randn(2, 1, 6, 6)
    expected = block(x)
    assert (expected == 0).any()  # the ReLU acts on this input
    synced = LtncTrainer._maybe_sync_batchnorm(block, args(2, "cuda")).eval()
    assert isinstance(synced[1], torch.nn.SyncBatchNorm)
    torch.testing.assert_close(synced(x), expected)
    # off by default, and a no-op on one process
    trainer = LtncTrainer(
        model=_model(), args=_args(tmp_path, sync_batchnorm=True), train_dataset=synthetic_pixel_dataset(COUNTS)
    )
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in trainer.model.modules())


def test_spa_cosine_is_computed_on_logged_steps_only(tmp_path, monkeypatch):
    calls = []
    real = LtncTrainer._spa_cosine

    def counting(weight, tracker):
        calls.append(1)
        return real(weight, tracker)

    monkeypatch.setattr(LtncTrainer, "_spa_cosine", staticmethod(counting))
    args = _args(tmp_path, spa="reg", max_steps=6, logging_steps=3)
    trainer = LtncTrainer(model=_model(), args=args, train_dataset=synthetic_pixel_dataset(COUNTS))
    trainer.train()
    train_logs = [e for e in trainer.state.log_history if "loss_supervised" in e]
    assert len(train_logs) == 2 and all("spa_tracker_cosine" in e for e in train_logs)
    assert len(calls) == 2  # steps 3 and 6, not every step
