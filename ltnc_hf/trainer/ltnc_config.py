"""Training arguments for DisA / SpA long-tailed training on top of `transformers.TrainingArguments`.

Every option is prefixed by the method it belongs to (``disa_``, ``spa_reg_``, ``spa_slerp_``, ``spa_proj_``,
``drw_``, ``inc_``, ``mixup_``, ``maxnorm_``, ``lr_``), has a help string, and is checked in ``__post_init__``:
an option of a method that is switched off is an error, never silently ignored.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields

from transformers import TrainingArguments

SPA_MODES = ("none", "reg", "slerp", "proj")
SAMPLER_CHOICES = ("random", "class_balanced", "sqrt")
STAGES = ("train", "crt")
DISA_PLAN_GRADS = ("detach", "unroll")
DISA_COSTS = ("cosine", "sqeuclidean")

# options that belong to a supervised loss: loss type(s) they apply to
_LOSS_OPTIONS = {
    "label_smoothing": ("ce",),
    "focal_gamma": ("focal",),
    "cb_beta": ("cb_softmax", "cb_sigmoid"),
    "ldam_max_margin": ("ldam",),
    "ldam_scale": ("ldam",),
}


def _parse_int_list(value) -> list[int]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [int(v) for v in value.replace(" ", "").split(",") if v]
    return [int(v) for v in value]


@dataclass
class LtncTrainingArguments(TrainingArguments):
    r"""
    [`~transformers.TrainingArguments`] plus the long-tail methods of ltnc-hf.

    Recommended values from the papers: DisA (Gao et al., ICML 2024) uses `disa_weight=0.1`, `disa_epsilon=1.0`,
    mixup `mixup_alpha=1.0` and DRW from epoch 160 of 200; the SGD schedule of the CIFAR-LT papers is
    `learning_rate=0.1`, `lr_warmup_epochs=5`, `lr_step_epochs="160,180"`, `weight_decay=2e-4`, batch 128.
    On small or short runs the DisA term is weak at `disa_epsilon=1` (the plan is near-uniform): see the README's
    benchmark section for settings that act.
    """

    # ---- what gets trained -------------------------------------------------------------------------------------
    stage: str = field(
        default="train",
        metadata={
            "help": "'train' for ordinary (first-stage) training; 'crt' for classifier re-training: the backbone is "
            "frozen (BatchNorm statistics included), the classifier re-initialised and trained with class-balanced "
            "sampling. Load the first-stage checkpoint as the model.",
            "choices": list(STAGES),
        },
    )
    loss_type: str = field(
        default="ce",
        metadata={"help": "Supervised long-tail loss (see `ltnc_hf.LOSS_TYPES`), e.g. ce, focal, ldam, cb_softmax."},
    )
    label_smoothing: float = field(default=0.0, metadata={"help": "Label smoothing of the 'ce' loss."})
    focal_gamma: float = field(default=2.0, metadata={"help": "Focusing parameter of the 'focal' loss."})
    cb_beta: float = field(
        default=0.999,
        metadata={"help": "Effective-number beta of the class-balanced losses (cb_softmax, cb_sigmoid)."},
    )
    ldam_max_margin: float = field(default=0.5, metadata={"help": "Largest LDAM margin (for the rarest class)."})
    ldam_scale: float = field(default=30.0, metadata={"help": "LDAM logit scale s (use with a cosine head)."})
    sampler: str = field(
        default="random",
        metadata={
            "help": "Training sampler: random (seeded shuffle), class_balanced or sqrt (square-root sampling).",
            "choices": list(SAMPLER_CHOICES),
        },
    )
    sync_batchnorm: bool = field(
        default=False,
        metadata={
            "help": "With more than one process, convert the model's BatchNorm layers to SyncBatchNorm, so that "
            "batch statistics are those of the global batch (as on the papers' single GPU) rather than of each "
            "process's slice. Needs CUDA (or another device SyncBatchNorm supports); no effect on one process."
        },
    )

    # ---- DRW --------------------------------------------------------------------------------------------------
    drw: bool = field(default=False, metadata={"help": "Deferred re-weighting (Cao et al., 2019)."})
    drw_start_epoch: int = field(
        default=160, metadata={"help": "DRW: first epoch (0-based) trained with class-balanced weights."}
    )
    drw_beta: float = field(default=0.9999, metadata={"help": "DRW: effective-number beta of the class weights."})

    # ---- mixup ------------------------------------------------------------------------------------------------
    mixup_alpha: float = field(
        default=0.0, metadata={"help": "Mixup: Beta(alpha, alpha) mixing; 0 disables. The official DisA code uses 1."}
    )

    # ---- DisA -------------------------------------------------------------------------------------------------
    disa: bool = field(default=False, metadata={"help": "DisA: add the optimal-transport alignment loss to the ETF."})
    disa_weight: float = field(default=0.1, metadata={"help": "DisA: weight lambda of the alignment loss."})
    disa_epsilon: float = field(default=1.0, metadata={"help": "DisA: entropic regularisation of Sinkhorn."})
    disa_plan_grad: str = field(
        default="detach",
        metadata={
            "help": "DisA: 'detach' treats the plan as a constant (paper eq. 9); 'unroll' back-propagates through "
            "the Sinkhorn iterations (the official code).",
            "choices": list(DISA_PLAN_GRADS),
        },
    )
    disa_cost: str = field(
        default="cosine",
        metadata={"help": "DisA: transport cost, 1 - cos or squared Euclidean.", "choices": list(DISA_COSTS)},
    )
    disa_max_iter: int = field(
        default=200,
        metadata={
            "help": "DisA: Sinkhorn iteration cap; the exact number of iterations when disa_tol is null or under "
            "torch_compile (the compiled loop is unrolled: its compile time grows with this number; with cosine "
            "costs at disa_epsilon >= 0.1, 10-20 iterations reached the default tolerance in our measurements)."
        },
    )
    disa_tol: float | None = field(
        default=1e-6,
        metadata={
            "help": "DisA: Sinkhorn marginal-error tolerance, checked every 10 iterations (one host synchronisation "
            "per check). null: run disa_max_iter iterations with no host synchronisation, which is what the "
            "compiled DisA loss does under torch_compile. The achieved error is logged as disa_sinkhorn_error."
        },
    )
    disa_log_grad_ratio: bool = field(
        default=False,
        metadata={
            "help": "DisA: at each logging step, log the ratio of the DisA gradient norm to the supervised one "
            "(with respect to the features). Costs two extra backward passes through the head on those steps."
        },
    )

    # ---- SpA --------------------------------------------------------------------------------------------------
    spa: str = field(
        default="none",
        metadata={
            "help": "SpA alignment (AAAI 2026): none, reg, slerp, proj, or several joined by commas (e.g. 'reg,proj')."
        },
    )
    spa_class_mean_momentum: float = field(
        default=0.9,
        metadata={
            "help": "SpA: EMA momentum of the running class feature means (all-reduced across processes); 0 gives "
            "per-epoch accumulation."
        },
    )
    spa_reg_weight: float = field(default=1.0, metadata={"help": "SpA-Reg: weight lambda of eq. (16)."})
    spa_reg_feature_grad: bool = field(
        default=False,
        metadata={
            "help": "SpA-Reg: also let eq. (15) reach the features through the batch's class means (straight-through "
            "on the running means). Required with a fixed ETF head (ETF-DR + SpA-Reg). Off by default: on "
            "Fashion-MNIST-LT aligning only the weights worked better (README, benchmarks)."
        },
    )
    spa_slerp_alpha_max: float = field(default=0.5, metadata={"help": "SpA-SLERP: largest interpolation fraction."})
    spa_slerp_tau: float = field(
        default=0.9, metadata={"help": "SpA-SLERP: interpolate classes whose weight-mean cosine is below tau."}
    )
    spa_slerp_every_n_epochs: int = field(default=1, metadata={"help": "SpA-SLERP: apply every n epochs."})
    spa_slerp_start_epoch: int = field(default=0, metadata={"help": "SpA-SLERP: first epoch at which to apply."})
    spa_proj_gamma: float = field(
        default=0.5, metadata={"help": "SpA-Proj: soft projection coefficient gamma of eq. (20)."}
    )

    # ---- INC --------------------------------------------------------------------------------------------------
    inc: bool = field(
        default=False, metadata={"help": "INC: add the NC1/NC2 feature regularisers (Liu et al., 2023)."}
    )
    inc_nc1_weight: float = field(default=0.01, metadata={"help": "INC: weight of the NC1 loss."})
    inc_nc2_weight: float = field(default=0.1, metadata={"help": "INC: weight of the NC2 loss."})

    # ---- MaxNorm ----------------------------------------------------------------------------------------------
    maxnorm_threshold: float | None = field(
        default=None,
        metadata={"help": "MaxNorm: project each class weight onto the ball of this radius after every step."},
    )

    # ---- the papers' learning-rate schedule -------------------------------------------------------------------
    lr_warmup_epochs: int = field(
        default=0, metadata={"help": "Linear learning-rate warm-up over this many epochs (the papers use 5)."}
    )
    lr_step_epochs: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated epochs at which the learning rate is multiplied by lr_step_gamma (e.g. "
            "'160,180'). Replaces lr_scheduler_type."
        },
    )
    lr_step_gamma: float = field(default=0.1, metadata={"help": "Multiplier of the step schedule."})

    # ---- evaluation -------------------------------------------------------------------------------------------
    nc_metrics: bool = field(
        default=True,
        metadata={"help": "Compute neural-collapse diagnostics (NC1-4, SpA cosine) at each evaluation."},
    )
    many_shot_threshold: int = field(
        default=100, metadata={"help": "Classes with more training images are many-shot."}
    )
    few_shot_threshold: int = field(default=20, metadata={"help": "Classes with fewer training images are few-shot."})

    # ---- Trainer defaults this package needs ------------------------------------------------------------------
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep False: the image column is needed by the lazy transforms."}
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "DDP: look for unused parameters (not needed by ltnc models)."}
    )

    def __post_init__(self):
        super().__post_init__()
        self._check_choices()
        self._check_method_options()
        self._check_values()

    # ------------------------------------------------------------------------------------------------------------
    @property
    def spa_modes(self) -> tuple[str, ...]:
        """The SpA variants switched on, e.g. ``("reg", "proj")``."""
        modes = tuple(m for m in (s.strip() for s in str(self.spa).split(",")) if m and m != "none")
        return modes

    @property
    def lr_step_epoch_list(self) -> list[int]:
        return _parse_int_list(self.lr_step_epochs)

    def _check_choices(self) -> None:
        from ..losses import LOSS_TYPES

        choices = {
            "stage": STAGES,
            "sampler": SAMPLER_CHOICES,
            "disa_plan_grad": DISA_PLAN_GRADS,
            "disa_cost": DISA_COSTS,
            "loss_type": LOSS_TYPES,
        }
        for name, valid in choices.items():
            value = getattr(self, name)
            if value not in valid:
                close = difflib.get_close_matches(str(value), valid, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"Unknown {name} '{value}', expected one of {tuple(valid)}.{hint}")
        for mode in self.spa_modes:
            if mode not in SPA_MODES:
                raise ValueError(
                    f"Unknown spa mode '{mode}' in spa='{self.spa}', expected 'none' or a comma-separated subset of "
                    f"{SPA_MODES[1:]}."
                )
        if "none" in str(self.spa).split(",") and self.spa_modes:
            raise ValueError(f"spa='{self.spa}' mixes 'none' with other modes; drop 'none'.")
        try:
            _parse_int_list(self.lr_step_epochs)
        except ValueError as err:
            raise ValueError(
                f"lr_step_epochs must be comma-separated integers such as '160,180' (got {self.lr_step_epochs!r})."
            ) from err

    def _check_method_options(self) -> None:
        """An option of a method that is off must keep its default: otherwise the user expects an effect."""
        defaults = {f.name: f.default for f in fields(self) if f.init}
        active = {
            "disa_": self.disa,
            "drw_": self.drw,
            "inc_": self.inc,
            "spa_reg_": "reg" in self.spa_modes,
            "spa_slerp_": "slerp" in self.spa_modes,
            "spa_proj_": "proj" in self.spa_modes,
            "spa_class_mean_": bool(self.spa_modes),
        }
        switch = {
            "disa_": "disa=True",
            "drw_": "drw=True",
            "inc_": "inc=True",
            "spa_reg_": "spa='reg'",
            "spa_slerp_": "spa='slerp'",
            "spa_proj_": "spa='proj'",
            "spa_class_mean_": "spa='reg', 'slerp' or 'proj'",
        }
        for prefix, on in active.items():
            if on:
                continue
            for name, default in defaults.items():
                if name.startswith(prefix) and getattr(self, name) != default:
                    raise ValueError(
                        f"{name}={getattr(self, name)!r} has no effect because {prefix.rstrip('_')} is off; set "
                        f"{switch[prefix]} or remove {name}."
                    )
        for name, losses in _LOSS_OPTIONS.items():
            if self.loss_type not in losses and getattr(self, name) != defaults[name]:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} applies only to loss_type in {losses} (got loss_type="
                    f"'{self.loss_type}'); remove {name} or change loss_type."
                )

    def _check_values(self) -> None:
        if self.disa and self.disa_weight <= 0:
            raise ValueError(f"disa_weight must be > 0 when disa=True (got {self.disa_weight}); or set disa=False.")
        if self.disa_epsilon <= 0:
            raise ValueError(f"disa_epsilon must be > 0 (got {self.disa_epsilon}); the papers use 1.0.")
        if self.disa_max_iter < 1:
            raise ValueError(f"disa_max_iter must be >= 1 (got {self.disa_max_iter}).")
        if self.disa_tol is not None and not (self.disa_tol >= 0 and math.isfinite(self.disa_tol)):
            raise ValueError(
                f"disa_tol must be a finite number >= 0 (got {self.disa_tol}), or null for exactly disa_max_iter "
                "iterations."
            )
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0 (got {self.mixup_alpha}); 0 disables mixup.")
        if not 0.0 <= self.spa_class_mean_momentum < 1.0:
            raise ValueError(
                f"spa_class_mean_momentum must be in [0, 1) (got {self.spa_class_mean_momentum}); 0 means per-epoch "
                "accumulation."
            )
        if not 0.0 <= self.spa_proj_gamma <= 1.0:
            raise ValueError(f"spa_proj_gamma must be in [0, 1] (got {self.spa_proj_gamma}).")
        if not 0.0 <= self.spa_slerp_alpha_max <= 1.0:
            raise ValueError(f"spa_slerp_alpha_max must be in [0, 1] (got {self.spa_slerp_alpha_max}).")
        if self.spa_slerp_every_n_epochs < 1:
            raise ValueError(f"spa_slerp_every_n_epochs must be >= 1 (got {self.spa_slerp_every_n_epochs}).")
        if self.maxnorm_threshold is not None and self.maxnorm_threshold <= 0:
            raise ValueError(f"maxnorm_threshold must be > 0 (got {self.maxnorm_threshold}); or leave it unset.")
        if self.lr_warmup_epochs < 0:
            raise ValueError(f"lr_warmup_epochs must be >= 0 (got {self.lr_warmup_epochs}).")
        steps = self.lr_step_epoch_list
        if steps != sorted(steps) or any(s <= 0 for s in steps):
            raise ValueError(f"lr_step_epochs must be increasing positive epochs (got {self.lr_step_epochs!r}).")
        if steps or self.lr_warmup_epochs:
            scheduler = getattr(self.lr_scheduler_type, "value", self.lr_scheduler_type)
            if scheduler != "linear":
                raise ValueError(
                    f"lr_step_epochs / lr_warmup_epochs define the schedule and replace lr_scheduler_type="
                    f"'{scheduler}'; remove one of them."
                )
            if self.warmup_steps:
                raise ValueError(
                    f"lr_warmup_epochs={self.lr_warmup_epochs} and warmup_steps={self.warmup_steps} both set a "
                    "warm-up; keep one."
                )
        if self.stage == "crt":
            if self.sampler == "random":
                self.sampler = "class_balanced"
            if self.disa or self.spa_modes or self.inc or self.drw or self.mixup_alpha:
                raise ValueError(
                    "stage='crt' re-trains only the classifier with class-balanced sampling; disa, spa, inc, drw and "
                    "mixup do not apply. Remove them from the cRT configuration."
                )
        if self.few_shot_threshold > self.many_shot_threshold:
            raise ValueError(
                f"few_shot_threshold ({self.few_shot_threshold}) must not exceed many_shot_threshold "
                f"({self.many_shot_threshold})."
            )
