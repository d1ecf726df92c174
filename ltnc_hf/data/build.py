"""Build a long-tailed dataset once and save it (`save_to_disk`) or publish it (`push_to_hub`, one config per rho).

This is what `ltnc-hf build-dataset NAME --imbalance-factor 100 --output DIR [--push-to-hub REPO]` runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .builders import canonical_dataset_name, load_lt_dataset
from .long_tail import class_counts as _class_counts
from .long_tail import long_tail_info, shot_groups

__all__ = ["build_dataset", "format_count_table", "hub_config_name"]

SUMMARY_FILE = "long_tail.json"


def hub_config_name(imbalance_factor: float | None) -> str:
    """Hub config name of a long-tailed build: `"rho100"`, `"rho12.5"`; `"default"` for fixed splits."""
    return "default" if imbalance_factor is None else f"rho{float(imbalance_factor):g}"


def _check_output_dir(output_dir: str | os.PathLike, overwrite: bool) -> Path:
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output_dir={str(out)!r} is an existing file, not a folder; choose another path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output_dir={str(out)!r} exists and is not empty; it is never overwritten silently. Choose a new folder, "
            "remove it, or pass overwrite=True (CLI: --overwrite) to replace it."
        )
    return out


def _save_atomically(dataset_dict: Any, out: Path, summary: dict[str, Any]) -> None:
    """`save_to_disk` into a temporary sibling folder, then rename it to `out`: no half-written `out` on failure."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    backup: Path | None = None
    try:
        dataset_dict.save_to_disk(str(tmp))
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        if out.is_dir():
            if any(out.iterdir()):
                backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
                backup.rmdir()
                os.rename(out, backup)
            else:
                out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and backup.exists() and not out.exists():
            os.rename(backup, out)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def build_dataset(
    name: str,
    imbalance_factor: float | None,
    output_dir: str | os.PathLike | None = None,
    *,
    push_to_hub: str | None = None,
    overwrite: bool = False,
    hub_kwargs: dict[str, Any] | None = None,
    **builder_kwargs: Any,
) -> Any:
    """Build a long-tailed dataset with [`load_lt_dataset`], then save and/or publish it.

    Args:
        name (`str`): a `DATASET_BUILDERS` key, e.g. `"cifar10"`, `"fashion_mnist"`.
        imbalance_factor (`float`, *optional*): `rho >= 1`; `None` for fixed splits (ImageNet-LT, Places-LT).
        output_dir (`str`, *optional*): folder for `save_to_disk` (plus a `long_tail.json` summary). An existing
            non-empty folder is refused unless `overwrite=True`; the data is written to a temporary sibling folder
            and renamed into place, so a failure leaves nothing half-written.
        push_to_hub (`str`, *optional*): a Hub dataset repo id; the splits are pushed as config `rho<rho>`
            (e.g. `rho100`), so one repo holds one config per imbalance factor.
        overwrite (`bool`, *optional*, defaults to `False`): allow replacing a non-empty `output_dir`.
        hub_kwargs (`dict`, *optional*): extra arguments of `DatasetDict.push_to_hub` (`private`, `token`, ...).
        builder_kwargs: passed to the builder (`data_dir`, `seed`, `profile`, `root`, ...).

    Returns:
        `datasets.DatasetDict`: the built dataset.
    """
    key = canonical_dataset_name(name)
    out = _check_output_dir(output_dir, overwrite) if output_dir is not None else None
    if push_to_hub is not None and (not isinstance(push_to_hub, str) or not push_to_hub.strip()):
        raise ValueError(f"push_to_hub={push_to_hub!r} must be a Hub repo id such as 'user/cifar10-lt'.")
    dataset_dict = load_lt_dataset(key, imbalance_factor, **builder_kwargs)
    if out is not None:
        summary = {
            "dataset": key,
            "imbalance_factor": imbalance_factor,
            "splits": {split: len(ds) for split, ds in dataset_dict.items()},
            "class_names": list(dataset_dict[next(iter(dataset_dict))].features["label"].names),
            "class_counts": {split: _class_counts(ds) for split, ds in dataset_dict.items()},
            "long_tail": long_tail_info(dataset_dict["train"]) if "train" in dataset_dict else None,
        }
        _save_atomically(dataset_dict, out, summary)
    if push_to_hub is not None:
        dataset_dict.push_to_hub(push_to_hub, config_name=hub_config_name(imbalance_factor), **(hub_kwargs or {}))
    return dataset_dict


def format_count_table(
    class_counts: Sequence[int],
    class_names: Sequence[str] | None = None,
    many: int = 100,
    few: int = 20,
) -> str:
    """A plain-text table of examples per class with each class's many/medium/few group, and a summary.

    Args:
        class_counts (`Sequence[int]` of length `num_classes`): training examples per class.
        class_names (`Sequence[str]`, *optional*): printed next to the class ids.
        many (`int`, *optional*, defaults to 100), few (`int`, *optional*, defaults to 20): see [`shot_groups`].

    Returns:
        `str`: the table, one line per class, then the totals.
    """
    counts = [int(c) for c in class_counts]
    if class_names is not None and len(class_names) != len(counts):
        raise ValueError(f"class_names has {len(class_names)} names for {len(counts)} counts; make them agree.")
    groups = shot_groups(counts, many=many, few=few)
    group_of = {k: g for g, ks in groups.items() for k in ks}
    names = [str(n) for n in class_names] if class_names is not None else [""] * len(counts)
    id_w = max(5, len(str(len(counts) - 1)))
    name_w = max([4, *(len(n) for n in names)])
    count_w = max([5, *(len(f"{c:,}") for c in counts)])
    lines = [f"{'class':>{id_w}}  {'name':<{name_w}}  {'count':>{count_w}}  group"]
    for k, (n, c) in enumerate(zip(names, counts)):
        lines.append(f"{k:>{id_w}}  {n:<{name_w}}  {c:>{count_w},}  {group_of[k]}")
    total = sum(counts)
    nonzero = [c for c in counts if c > 0]
    ratio = f"{max(nonzero) / min(nonzero):.1f} ({max(nonzero):,} / {min(nonzero):,})" if nonzero else "n/a"
    lines.append(f"total: {total:,} examples in {len(counts)} classes; imbalance ratio {ratio}")
    rules = {"many": f"n > {many}", "medium": f"{few} <= n <= {many}", "few": f"n < {few}"}
    lines.append(
        "; ".join(
            f"{g} ({rules[g]}): {len(ks)} class{'' if len(ks) == 1 else 'es'}, {sum(counts[k] for k in ks):,} examples"
            for g, ks in groups.items()
        )
    )
    return "\n".join(lines)
