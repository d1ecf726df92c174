"""`LtncTrainer`: a `transformers.Trainer` that adds the long-tail losses, DisA, SpA, DRW, INC, mixup, class-aware
sampling, the papers' step schedule and cRT, and stays correct under DDP (Accelerate / torchrun).

Design notes
------------
- DisA solves its transport plan over the *global* batch: features are all-gathered with
  `torch.distributed.nn.functional.all_gather`, whose backward sums the gradients of every rank into the local slice.
  Each rank computes the same DisA value; DDP then averages the parameter gradients over ranks, so the DisA gradient
  equals that of one process on the concatenated batch (the supervised loss is a per-rank mean, as usual).
- SpA class means come from `ClassMeanTracker`, which all-reduces per-class sums and counts, so SpA-Reg, SLERP and
  Proj see the same means on every rank; SLERP and MaxNorm edit weights that DDP keeps identical, so the edits are
  identical too.
- Everything random in a step (mixup's lambda and permutation) is drawn from a generator seeded by
  (seed, global step, micro-batch, rank), and the samplers are seeded by (seed, epoch): a resumed run replays the
  same draws. The tracker buffers and INC class means are written next to each checkpoint
  (`ltnc_trainer_state.safetensors`) and restored on resume.
- `torch_compile=True`: besides the model (compiled by Accelerate), the DisA loss and the SpA-Reg term are compiled
  with `fullgraph=True`. Both are written without data-dependent branches or host reads; Sinkhorn, which stops on a
  measured error in eager mode (one host read every 10 iterations), runs exactly `disa_max_iter` iterations when
  compiled. `tests/test_compile.py` records the captured graphs and checks that none holds a host read
  (`.item()`, `bool()`, `nonzero`...), which Dynamo captures into the graph instead of breaking it. The
  class-mean bookkeeping (no-grad updates with an all-reduce) stays eager between the compiled parts.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from .callbacks import MaxNormCallback, SpAProjectionCallback, SpASlerpCallback, _unwrap
from .ltnc_config import LtncTrainingArguments

logger = logging.get_logger(__name__)

TRAINER_STATE_NAME = "ltnc_trainer_state.safetensors"
_MODEL_IDENTITY_KEYS = ("model_type", "backbone", "head", "num_labels", "projection_dim", "etf_kind", "etf_seed")


def dataset_labels(dataset, label_column: str = "label") -> np.ndarray:
    """Integer labels of a (possibly transformed) `datasets.Dataset`, read from Arrow without decoding images."""
    from ..data import get_labels

    if hasattr(dataset, "column_names"):
        for column in (label_column, "labels", "label"):
            if column in dataset.column_names:
                return get_labels(dataset, column)
        raise ValueError(
            f"The training dataset has no label column '{label_column}' (columns: {dataset.column_names}); "
            "pass class_counts= to LtncTrainer or rename the column."
        )
    return np.asarray([int(example["labels"]) for example in dataset], dtype=np.int64)


def _gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All-gather along the batch dimension, keeping gradients (identity on one process)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return tensor
    if torch.distributed.get_world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()), dim=0)


def _gather(tensor: torch.Tensor) -> torch.Tensor:
    """All-gather along the batch dimension, without gradients (identity on one process)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return tensor
    world = torch.distributed.get_world_size()
    if world == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world)]
    torch.distributed.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


class _TrainerStateCallback(TrainerCallback):
    """Writes the trainer-side buffers (class-mean tracker, INC means) next to every checkpoint."""

    def __init__(self, trainer: LtncTrainer):
        self.trainer = trainer

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):
            self.trainer.save_ltnc_state(folder)

    def on_epoch_begin(self, args, state, control, **kwargs):
        # per-epoch class means (spa_class_mean_momentum=0): start a new accumulation window
        tracker = self.trainer.class_mean_tracker
        if tracker is not None and tracker.momentum is None:
            tracker.reset()

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        # INC class means live outside the DDP-wrapped model: average their gradients by hand.
        inc = self.trainer.inc_loss
        if inc is None or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        world = torch.distributed.get_world_size()
        for param in inc.parameters():
            if param.grad is not None:
                torch.distributed.all_reduce(param.grad)
                param.grad.div_(world)


class LtncTrainer(Trainer):
    r"""
    [`~transformers.Trainer`] for long-tailed classification with DisA, SpA and the long-tail baselines.

    Args:
        model ([`LtncForImageClassification`] or any model whose output has `logits` and `features`):
            The model. DisA needs `model.get_target_etf()`; SpA needs `model.classifier_parameter`.
        args ([`LtncTrainingArguments`]): The training arguments.
        class_counts (`list[int]`, *optional*):
            Training images per class. Read from the training dataset's labels when omitted.
        label_column (`str`, *optional*, defaults to `"label"`): Label column of the (raw) training dataset.
        **kwargs: Passed to [`~transformers.Trainer`] (`train_dataset`, `eval_dataset`, `compute_metrics`, ...).
            When `compute_metrics` is omitted, [`LongTailMetrics`] is used (all/many/medium/few accuracy and, with
            `args.nc_metrics`, the neural-collapse diagnostics).
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        args: LtncTrainingArguments | None = None,
        *,
        class_counts: list[int] | None = None,
        label_column: str = "label",
        **kwargs,
    ):
        if args is None:
            args = LtncTrainingArguments(output_dir="outputs/ltnc")
        if not isinstance(args, LtncTrainingArguments):
            raise TypeError(
                f"LtncTrainer needs LtncTrainingArguments (got {type(args).__name__}); build the arguments with "
                "ltnc_hf.LtncTrainingArguments(...)."
            )
        if model is None:
            raise ValueError("LtncTrainer needs a model, e.g. LtncForImageClassification(LtncConfig(...)).")
        train_dataset = kwargs.get("train_dataset")
        self.label_column = label_column
        self._train_labels: np.ndarray | None = None
        if class_counts is None:
            if train_dataset is None:
                raise ValueError("LtncTrainer needs class_counts= or a train_dataset to count the classes in.")
            self._train_labels = dataset_labels(train_dataset, label_column)
            num_labels = int(getattr(getattr(model, "config", None), "num_labels", self._train_labels.max() + 1))
            class_counts = np.bincount(self._train_labels, minlength=num_labels).tolist()
        self.class_counts = [int(c) for c in class_counts]
        num_labels = getattr(getattr(model, "config", None), "num_labels", None)
        if num_labels is not None and len(self.class_counts) != num_labels:
            raise ValueError(
                f"The training data has {len(self.class_counts)} classes but the model has num_labels={num_labels}; "
                "build the model with the dataset's number of classes."
            )

        self._check_model_for_args(model, args)
        self._build_losses(model, args)

        if kwargs.get("compute_metrics") is None and kwargs.get("eval_dataset") is not None:
            from ..metrics import LongTailMetrics

            kwargs["compute_metrics"] = LongTailMetrics(
                self.class_counts,
                classifier_weight_fn=(lambda: _unwrap(self.model).get_classifier_weight())
                if args.nc_metrics and hasattr(model, "get_classifier_weight")
                else None,
                nc=args.nc_metrics,
                many=args.many_shot_threshold,
                few=args.few_shot_threshold,
            )
        model = self._maybe_sync_batchnorm(model, args)
        super().__init__(model=model, args=args, **kwargs)
        # keep the model's features in the gathered predictions: (logits, features)
        self._metrics: dict[str, dict[str, list[torch.Tensor]]] = {
            "train": defaultdict(list),
            "eval": defaultdict(list),
        }
        self._micro_step = (-1, 0)
        self.add_callback(_TrainerStateCallback(self))
        if args.nc_metrics and self.eval_dataset is not None:
            from ..metrics import NeuralCollapseCallback

            self.add_callback(NeuralCollapseCallback())
        if "proj" in args.spa_modes:
            self.add_callback(SpAProjectionCallback(self.class_mean_tracker, args.spa_proj_gamma))
        if "slerp" in args.spa_modes:
            self.slerp_callback = SpASlerpCallback(
                self.class_mean_tracker,
                args.spa_slerp_alpha_max,
                args.spa_slerp_tau,
                args.spa_slerp_every_n_epochs,
                args.spa_slerp_start_epoch,
            )
            self.add_callback(self.slerp_callback)
        if args.maxnorm_threshold is not None:
            self.add_callback(MaxNormCallback(args.maxnorm_threshold))
        if args.stage == "crt":
            self._prepare_crt(model)

    # ---------------------------------------------------------------------------------------------------------------
    # set-up
    # ---------------------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_model_for_args(model: nn.Module, args: LtncTrainingArguments) -> None:
        config = getattr(model, "config", None)
        head = getattr(config, "head", None)
        if args.disa and (not hasattr(model, "get_target_etf") or model.get_target_etf() is None):
            raise ValueError(
                "disa=True needs a target simplex ETF, but the model has none (head="
                f"{head!r}). Use head='etf', or keep a learnable head and set disa_target_etf=True in the model "
                "config."
            )
        edits = [m for m in args.spa_modes if m in ("slerp", "proj")]
        if edits and getattr(model, "classifier_parameter", None) is None:
            raise ValueError(
                f"spa={args.spa!r}: SpA-{edits[0].upper()} edits a learnable classifier, but the model's head "
                f"({head!r}) has no learnable weight. Use head='linear' or 'cosine', or spa='reg' (which also works "
                "with a fixed ETF head, through the features)."
            )
        if "reg" in args.spa_modes and not hasattr(model, "get_classifier_weight"):
            raise ValueError("spa='reg' needs model.get_classifier_weight(); use an LtncForImageClassification.")
        if "reg" in args.spa_modes and getattr(model, "classifier_parameter", None) is None:
            if not args.spa_reg_feature_grad:
                raise ValueError(
                    f"spa='reg' with a fixed head ({head!r}) can only act through the features; set "
                    "spa_reg_feature_grad=True or use a learnable head."
                )
        if args.maxnorm_threshold is not None and getattr(model, "classifier_parameter", None) is None:
            raise ValueError(
                f"maxnorm_threshold needs a learnable classifier, but head={head!r} is fixed; unset maxnorm_threshold."
            )
        if args.loss_type == "ldam" and head not in (None, "cosine"):
            raise ValueError(
                f"loss_type='ldam' expects cosine logits (head='cosine'), got head={head!r}: LDAM scales the logits "
                "by ldam_scale itself. Set head='cosine' in the model config."
            )
        if args.loss_type == "dot_regression" and head not in (None, "etf"):
            raise ValueError(
                f"loss_type='dot_regression' is the ETF-DR loss and needs head='etf' (got head={head!r})."
            )
        if args.stage == "crt" and getattr(model, "classifier_parameter", None) is None:
            raise ValueError(f"stage='crt' re-trains a learnable classifier, but head={head!r} is fixed.")

    @staticmethod
    def _maybe_sync_batchnorm(model: nn.Module, args: LtncTrainingArguments) -> nn.Module:
        """`sync_batchnorm=True` on more than one process: BatchNorm -> SyncBatchNorm (same parameters and buffers)."""
        if not args.sync_batchnorm or args.world_size <= 1:
            return model
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            return model
        if args.device.type in ("cpu", "meta"):
            raise ValueError(
                "sync_batchnorm=True needs GPU processes (torch.nn.SyncBatchNorm does not run on "
                f"{args.device.type}); leave it off for CPU training."
            )
        if args.stage == "crt":
            return model  # the backbone is frozen in eval mode: its statistics are not updated
        from timm.layers import convert_sync_batchnorm  # also converts timm's BatchNormAct2d (keeps its activation)

        return convert_sync_batchnorm(model)

    def _build_losses(self, model: nn.Module, args: LtncTrainingArguments) -> None:
        from ..losses import (
            LOSSES_USING_CLASS_COUNTS,
            ClassMeanTracker,
            DisALoss,
            INCLoss,
            create_loss,
            drw_class_weights,
        )

        loss_kwargs = {}
        if args.loss_type == "ce" and args.label_smoothing:
            loss_kwargs["label_smoothing"] = args.label_smoothing
        if args.loss_type == "focal":
            loss_kwargs["gamma"] = args.focal_gamma
        if args.loss_type in ("cb_softmax", "cb_sigmoid"):
            loss_kwargs["beta"] = args.cb_beta
        if args.loss_type == "ldam":
            loss_kwargs["max_margin"] = args.ldam_max_margin
            loss_kwargs["scale"] = args.ldam_scale
        counts = self.class_counts if args.loss_type in LOSSES_USING_CLASS_COUNTS else None
        self.supervised_loss = create_loss(args.loss_type, class_counts=counts, **loss_kwargs)
        self.drw_weights = drw_class_weights(self.class_counts, beta=args.drw_beta) if args.drw else None
        self.disa_loss = (
            DisALoss(
                args.disa_epsilon,
                cost=args.disa_cost,
                plan_grad=args.disa_plan_grad,
                max_iter=args.disa_max_iter,
                tol=args.disa_tol,
            )
            if args.disa
            else None
        )
        # The DisA loss and the SpA-Reg term are pure tensor code with no data-dependent branch and no host read
        # (Sinkhorn runs a fixed number of iterations when compiled): under torch_compile they are compiled with
        # fullgraph=True, so that a graph break raises instead of silently splitting the graph.
        self._disa_fn = self.disa_loss
        self._spa_reg_fn = self._spa_reg
        if args.torch_compile:
            # torch_compile_mode is left to the model: its CUDA-graph modes would let the next replay overwrite the
            # loss values kept for logging
            compile_kwargs = {"fullgraph": True, "backend": args.torch_compile_backend or "inductor"}
            if self.disa_loss is not None:
                self._disa_fn = torch.compile(self.disa_loss, **compile_kwargs)
                if args.disa_max_iter > 50:
                    logger.warning(
                        f"torch_compile: the compiled Sinkhorn runs exactly disa_max_iter={args.disa_max_iter} "
                        "iterations, unrolled, and is compiled for training, evaluation and a last partial batch, "
                        "so the compile time grows with it (minutes at 200). With cosine costs at disa_epsilon >= "
                        "0.1, 10-20 iterations reached a marginal error below 1e-6 in our measurements (the error "
                        "is logged as disa_sinkhorn_error): set disa_max_iter=50 or lower."
                    )
            if "reg" in args.spa_modes:
                self._spa_reg_fn = torch.compile(self._spa_reg, **compile_kwargs)
        feature_dim = int(model.feature_dim) if hasattr(model, "feature_dim") else None
        self.class_mean_tracker = None
        if args.spa_modes:
            momentum = args.spa_class_mean_momentum or None
            self.class_mean_tracker = ClassMeanTracker(len(self.class_counts), feature_dim, momentum=momentum)
        self.inc_loss = (
            INCLoss(
                len(self.class_counts), feature_dim, nc1_weight=args.inc_nc1_weight, nc2_weight=args.inc_nc2_weight
            )
            if args.inc
            else None
        )

    def _prepare_crt(self, model: nn.Module) -> None:
        """cRT: freeze everything but the classifier and re-initialise it."""
        model.requires_grad_(False)
        model.reset_classifier(seed=self.args.seed)
        for param in model.head_parameters():
            param.requires_grad_(True)

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        if self.inc_loss is not None and not getattr(self, "_inc_params_added", False):
            self.inc_loss.to(self.args.device)
            optimizer.add_param_group({"params": list(self.inc_loss.parameters()), "weight_decay": 0.0})
            self._inc_params_added = True
        return optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The papers' schedule (linear warm-up, then x`lr_step_gamma` at `lr_step_epochs`) when asked for; otherwise
        the Trainer's own `lr_scheduler_type`."""
        args = self.args
        if not (args.lr_step_epoch_list or args.lr_warmup_epochs):
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            optimizer = optimizer if optimizer is not None else self.optimizer
            steps_per_epoch = self._optimizer_steps_per_epoch()
            warmup = args.lr_warmup_epochs * steps_per_epoch
            milestones = [e * steps_per_epoch for e in args.lr_step_epoch_list]
            gamma = args.lr_step_gamma

            def factor(step: int) -> float:
                if warmup and step < warmup:
                    return (step + 1) / warmup
                return gamma ** sum(step >= m for m in milestones)

            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def _optimizer_steps_per_epoch(self) -> int:
        args = self.args
        global_batch = args.per_device_train_batch_size * max(args.world_size, 1)
        if args.dataloader_drop_last:
            batches = len(self.train_dataset) // global_batch
        else:
            batches = math.ceil(len(self.train_dataset) / global_batch)
        return max(batches // args.gradient_accumulation_steps, 1)

    def _get_train_sampler(self, train_dataset=None):
        from ..data import create_sampler

        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if dataset is None or not hasattr(dataset, "__len__"):
            return super()._get_train_sampler(train_dataset)
        if self._train_labels is None or len(self._train_labels) != len(dataset):
            self._train_labels = dataset_labels(dataset, self.label_column)
        # Accelerate shards the batches across processes: the sampler draws the global order.
        return create_sampler(self.args.sampler, self._train_labels, seed=self.args.seed, num_replicas=1, rank=0)

    # ---------------------------------------------------------------------------------------------------------------
    # the loss
    # ---------------------------------------------------------------------------------------------------------------
    def _step_rng(self) -> np.random.Generator:
        """A generator seeded by (seed, global step, micro-batch, rank): resumed runs replay the same draws."""
        step = self.state.global_step
        last_step, micro = self._micro_step
        micro = micro + 1 if last_step == step else 0
        self._micro_step = (step, micro)
        return np.random.default_rng([int(self.args.seed), int(step), int(micro), int(self.args.process_index)])

    def _mixup(self, pixel_values: torch.Tensor, labels: torch.Tensor):
        """Mixup (Zhang et al., 2018) returning the (y_a, y_b, lambda) form the long-tail losses take."""
        rng = self._step_rng()
        alpha = self.args.mixup_alpha
        lam = float(rng.beta(alpha, alpha))
        perm = torch.from_numpy(rng.permutation(labels.shape[0])).to(labels.device)
        mixed = lam * pixel_values + (1.0 - lam) * pixel_values[perm]
        return mixed, labels, labels[perm], lam

    def _drw_active(self) -> bool:
        return self.drw_weights is not None and int(self.state.epoch or 0) >= self.args.drw_start_epoch

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        args = self.args
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        pixel_values = inputs.pop("pixel_values")
        training = model.training
        mode = "train" if training else "eval"
        if args.stage == "crt" and training:
            _unwrap(model).eval()  # frozen backbone: BatchNorm statistics stay those of the first stage
        labels_b, lam = None, 1.0
        if training and args.mixup_alpha > 0:
            pixel_values, labels, labels_b, lam = self._mixup(pixel_values, labels)
        outputs = model(pixel_values=pixel_values, **inputs)
        logits, features = outputs.logits, outputs.features
        class_weight = self.drw_weights.to(logits.device) if self._drw_active() else None

        sup = self.supervised_loss(
            logits,
            labels,
            labels_b=labels_b,
            lam=lam,
            features=features,
            class_weight=class_weight,
        )
        loss = sup
        record = self._metrics[mode]
        record["loss_supervised"].append(sup.detach())

        if self.disa_loss is not None:
            etf = _unwrap(model).get_target_etf()
            disa = self._disa_fn(_gather_with_grad(features), etf)
            loss = loss + args.disa_weight * disa
            record["loss_disa"].append(disa.detach())
            error = self.disa_loss.last_info.error
            record["disa_sinkhorn_error"].append(torch.as_tensor(error, device=disa.device).detach())
            if training and args.disa_log_grad_ratio and self._is_logging_step():
                # the head applied again to the features: the same logits, and differentiable in `features` also
                # when the model is compiled (its logits are then computed inside the graph, not from `features`)
                head = getattr(_unwrap(model), "classifier", None)
                if head is not None:
                    logits_again = head(features)
                    sup_for_grad = self.supervised_loss(
                        logits_again, labels, labels_b=labels_b, lam=lam, features=features, class_weight=class_weight
                    )
                else:  # a model without a `classifier`: its logits must come from `features` in the graph
                    sup_for_grad = sup
                g_sup = torch.autograd.grad(sup_for_grad, features, retain_graph=True)[0]
                g_disa = torch.autograd.grad(args.disa_weight * disa, features, retain_graph=True)[0]
                record["disa_grad_ratio"].append((g_disa.norm() / g_sup.norm().clamp_min(1e-12)).detach())

        tracker = self.class_mean_tracker
        if tracker is not None:
            tracker.to(features.device)
            dominant = labels if lam >= 0.5 else labels_b
            if training:
                tracker.update(features.detach(), dominant)
            weight = _unwrap(model).get_classifier_weight()
            if "reg" in args.spa_modes:
                if training and args.spa_reg_feature_grad:
                    centered = self._differentiable_centered_means(features, dominant, tracker)
                else:
                    centered = tracker.centered_means()
                reg = self._spa_reg_fn(weight, centered, tracker.seen)
                loss = loss + args.spa_reg_weight * reg
                record["loss_spa_reg"].append(reg.detach())
            # a K x d pass: with step-wise logging, only on the steps that are logged
            if not training or self.args.logging_strategy != "steps" or self._is_logging_step():
                with torch.no_grad():
                    record["spa_tracker_cosine"].append(self._spa_cosine(weight, tracker))

        if self.inc_loss is not None:
            self.inc_loss.to(features.device)
            inc = self.inc_loss(features, labels, labels_b=labels_b, lam=lam)
            loss = loss + inc
            record["loss_inc"].append(inc.detach())

        return (loss, outputs) if return_outputs else loss

    @staticmethod
    def _spa_reg(weight: torch.Tensor, centered: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        from ..losses import spa_reg_loss

        return spa_reg_loss(weight, centered.to(weight.dtype), mask=seen)

    @staticmethod
    def _differentiable_centered_means(features: torch.Tensor, labels: torch.Tensor, tracker) -> torch.Tensor:
        """Centred running class means whose gradient is that of the global batch's class means.

        Eq. (15) is a loss of the features too. The running means (tracker) give the value; for the classes in the
        (global) batch a straight-through term adds the gradient of their batch means, so SpA-Reg also moves the
        features toward their class weights (and acts with a fixed ETF head). Features are gathered with gradients,
        as for DisA, so the gradient is that of one process on the concatenated batch.
        """
        feats = _gather_with_grad(features)
        labs = _gather(labels)
        num_classes = tracker.means.shape[0]
        sums = feats.new_zeros(num_classes, feats.shape[1]).index_add(0, labs, feats)
        counts = feats.new_zeros(num_classes).index_add_(0, labs, torch.ones_like(labs, dtype=feats.dtype))
        batch_means = sums / counts.clamp_min(1.0)[:, None]
        straight_through = torch.where((counts > 0)[:, None], batch_means - batch_means.detach(), 0.0)
        means = tracker.means.to(feats.dtype) + straight_through
        # mean of the seen classes' means, or of all when none is seen yet: no data-dependent branch, so no host sync
        seen = tracker.seen.to(means.dtype)
        weights = torch.where(seen.sum() > 0, seen, torch.ones_like(seen))
        global_mean = (weights @ means) / weights.sum()
        return means - global_mean

    @staticmethod
    def _spa_cosine(weight: torch.Tensor, tracker) -> torch.Tensor:
        mask = tracker.seen.to(weight.dtype)
        cos = F.cosine_similarity(weight.detach(), tracker.centered_means().to(weight.dtype), dim=1, eps=1e-12)
        return (cos * mask).sum() / mask.sum().clamp_min(1.0)  # 0 when no class is seen; no host sync

    def _is_logging_step(self) -> bool:
        steps = self.args.logging_steps
        step = self.state.global_step + 1
        if isinstance(steps, float) and steps < 1:
            steps = max(int(steps * max(self.state.max_steps, 1)), 1)
        return self.args.logging_strategy != "no" and step % int(steps) == 0

    # ---------------------------------------------------------------------------------------------------------------
    # logging
    # ---------------------------------------------------------------------------------------------------------------
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "eval" if any(key.startswith("eval_") for key in logs) else "train"
        record = self._metrics[mode]
        if record:
            names = sorted(record)
            device = self.args.device
            means = torch.stack([torch.stack(record[n]).float().mean().to(device) for n in names])
            if self.accelerator.num_processes > 1:
                means = self.accelerator.reduce(means, reduction="mean")
            prefix = "eval_" if mode == "eval" else ""
            for name, value in zip(names, means.tolist()):
                logs[f"{prefix}{name}"] = value
            record.clear()
        if mode == "train" and self._drw_active():
            logs["drw_active"] = 1.0
        super().log(logs, start_time)

    # ---------------------------------------------------------------------------------------------------------------
    # checkpoints
    # ---------------------------------------------------------------------------------------------------------------
    def ltnc_state_dict(self) -> dict[str, torch.Tensor]:
        """Trainer-side tensors that a resumed run needs: the class-mean tracker and the INC class means."""
        state = {}
        if self.class_mean_tracker is not None:
            state.update({f"class_mean_tracker.{k}": v for k, v in self.class_mean_tracker.state_dict().items()})
        if self.inc_loss is not None:
            state.update({f"inc_loss.{k}": v for k, v in self.inc_loss.state_dict().items()})
        return {k: v.detach().cpu().contiguous() for k, v in state.items()}

    def save_ltnc_state(self, folder: str) -> None:
        state = self.ltnc_state_dict()
        if state:
            save_file(state, os.path.join(folder, TRAINER_STATE_NAME))

    def load_ltnc_state(self, folder: str) -> None:
        path = os.path.join(folder, TRAINER_STATE_NAME)
        expected = self.ltnc_state_dict()
        if not expected:
            return
        if not os.path.isfile(path):
            raise ValueError(
                f"Checkpoint {folder} has no {TRAINER_STATE_NAME}, but this run keeps trainer state "
                f"({sorted({k.split('.')[0] for k in expected})}); it was written by a run with other methods. "
                "Resume with the same configuration, or start a new run."
            )
        state = load_file(path)
        for prefix, module in (("class_mean_tracker.", self.class_mean_tracker), ("inc_loss.", self.inc_loss)):
            if module is None:
                continue
            sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            module.load_state_dict(sub)

    def _check_checkpoint_matches(self, folder: str) -> None:
        config_path = os.path.join(folder, "config.json")
        model_config = getattr(_unwrap(self.model), "config", None)
        if not os.path.isfile(config_path) or model_config is None:
            return
        with open(config_path, encoding="utf-8") as fh:
            saved = json.load(fh)
        current = model_config.to_dict()
        for key in _MODEL_IDENTITY_KEYS:
            if key in saved and key in current and saved[key] != current[key]:
                raise ValueError(
                    f"Cannot resume from {folder}: it holds a model with {key}={saved[key]!r}, but this run's model "
                    f"has {key}={current[key]!r}. Resume with the configuration that wrote the checkpoint, or use "
                    "another output_dir."
                )

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None, **kwargs):
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(
                    f"resume_from_checkpoint=True but {self.args.output_dir} holds no checkpoint-* folder; "
                    "train without resuming or point to a checkpoint folder."
                )
        if resume_from_checkpoint:
            if not os.path.isdir(resume_from_checkpoint):
                raise ValueError(f"Checkpoint folder {resume_from_checkpoint!r} does not exist.")
            self._check_checkpoint_matches(resume_from_checkpoint)
            self.load_ltnc_state(resume_from_checkpoint)
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )
