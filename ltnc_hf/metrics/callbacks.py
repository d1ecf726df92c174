"""`NeuralCollapseCallback`: a history of the neural-collapse diagnostics of every evaluation, and its plots."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .plots import plot_nc_traces

logger = logging.getLogger(__name__)

# bookkeeping keys of `Trainer.evaluate` that say nothing about the model
_SKIPPED_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")


class NeuralCollapseCallback(TrainerCallback):
    """Records the metrics of each evaluation (accuracy per shot group, NC1–NC4, traces, SpA cosines) in a history.

    Use it with `compute_metrics=LongTailMetrics(...)`, which computes the diagnostics from the model's logits and
    features. The `Trainer` already sends those `eval_*` scalars to every `report_to` integration (TensorBoard when
    installed and requested), so this callback does not log them a second time; it keeps the history that the trace
    plots (DisA Fig. 3, SpA Figs. 1a and 4) need:

    - `history`: one dict per evaluation step, `{"step", "epoch", <metric without the "eval_" prefix>: float, ...}`
      (evaluations of several datasets at the same step are merged; their keys keep the dataset name);
    - written after each evaluation to `<output_dir>/<history_file>` (main process only);
    - restored on resume: entries up to the resumed `global_step` are read back from that file, or rebuilt from
      the checkpoint's `trainer_state.json` log history when the file is missing;
    - at the end of training, `plot_nc_traces` writes `<output_dir>/<plot_file>` when `plot_at_end`.

    Args:
        history_file (`str`, *optional*, defaults to `"nc_history.json"`): File name inside `args.output_dir`.
        plot_at_end (`bool`, *optional*, defaults to `True`): Write the trace plot when training ends.
        plot_file (`str`, *optional*, defaults to `"nc_traces.png"`): File name of the plot inside `args.output_dir`.
        metric_key_prefix (`str`, *optional*, defaults to `"eval"`): Prefix of the metrics to record.
    """

    def __init__(
        self,
        *,
        history_file: str = "nc_history.json",
        plot_at_end: bool = True,
        plot_file: str = "nc_traces.png",
        metric_key_prefix: str = "eval",
    ) -> None:
        self.history_file = history_file
        self.plot_at_end = plot_at_end
        self.plot_file = plot_file
        self.metric_key_prefix = metric_key_prefix
        self.history: list[dict[str, Any]] = []

    def _history_path(self, args) -> Path:
        return Path(args.output_dir) / self.history_file

    def _entry(self, logs: dict[str, Any], step: int, epoch: float | None) -> dict[str, Any]:
        prefix = f"{self.metric_key_prefix}_"
        entry: dict[str, Any] = {"step": int(step), "epoch": None if epoch is None else float(epoch)}
        for key, value in logs.items():
            if not key.startswith(prefix) or key.endswith(_SKIPPED_SUFFIXES):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            value = float(value)
            if math.isfinite(value):
                entry[key[len(prefix) :]] = value
        return entry

    def _append(self, entry: dict[str, Any]) -> None:
        if len(entry) <= 2:  # nothing but step / epoch
            return
        if self.history and self.history[-1]["step"] == entry["step"]:
            self.history[-1].update(entry)
        else:
            self.history.append(entry)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:
            self.history = []
            return
        # resumed: keep what happened up to the checkpoint
        path = self._history_path(args)
        restored: list[dict[str, Any]] = []
        if path.is_file():
            try:
                restored = [e for e in json.loads(path.read_text()) if e.get("step", math.inf) <= state.global_step]
            except (json.JSONDecodeError, TypeError, AttributeError) as err:
                raise ValueError(
                    f"Cannot resume the neural-collapse history from {path}: {err}. Delete or fix the file."
                ) from err
        else:
            for logs in state.log_history or []:
                step = logs.get("step", 0)
                if step <= state.global_step:
                    entry = self._entry(logs, step, logs.get("epoch"))
                    if len(entry) > 2:
                        restored.append(entry)
        self.history = []
        for entry in restored:
            self._append(entry)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics:
            return
        self._append(self._entry(metrics, state.global_step, state.epoch))
        if state.is_world_process_zero:
            path = self._history_path(args)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.history, indent=1) + "\n")

    def on_train_end(self, args, state, control, **kwargs):
        if self.plot_at_end and self.history and state.is_world_process_zero:
            path = plot_nc_traces(self.history, Path(args.output_dir) / self.plot_file)
            logger.info("Neural-collapse traces written to %s", path)
