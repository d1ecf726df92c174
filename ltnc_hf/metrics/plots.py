"""Figures of the DisA and SpA papers, as PNG files.

Every function draws on its own `matplotlib.figure.Figure` with the Agg canvas (no `pyplot`, no global backend
switch, safe in threads and notebooks), writes a PNG of exactly `figsize * dpi` pixels to `path` (parent folders are
created) and returns `str(path)`.

- `plot_transport_plan`: transport plan of a batch, rows sorted by label (DisA Fig. 5);
- `plot_alignment_matrix`: A = Lᵀ T, class × ETF vector (DisA Fig. 2);
- `plot_nc_traces`: covariance traces, NC1–NC4, feature–classifier cosine and accuracy over training
  (DisA Fig. 3, SpA Figs. 1a, 4);
- `plot_class_mean_angles`: pairwise angles of the centred class means against the ETF angle arccos(−1/(K−1))
  (DisA Fig. 7);
- `plot_confusion_matrix`: row-normalised confusion matrix (DisA Fig. 6);
- `plot_tsne`: t-SNE of features with class means (★) and classifier weights (▲) (DisA Fig. 4);
- `plot_per_class_accuracy`: per-class accuracy against training count, log x, shot groups marked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from ._utils import check_labels, shot_group_masks, to_numpy
from .long_tail import SHOT_GROUPS

# at most this many classes get tick labels / cell annotations / a legend
_MAX_LABELLED_CLASSES = 20
_GROUP_COLORS = {"many": "tab:blue", "medium": "tab:orange", "few": "tab:red"}


def _figure(figsize: tuple[float, float], dpi: int, nrows: int = 1, ncols: int = 1):
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Figure, path: str | Path, dpi: int) -> str:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Plots are written as PNG; got path {str(path)!r}. Use a file name ending in '.png'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return str(path)


def _class_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    if class_names is None:
        return [str(k) for k in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(f"`class_names` has {len(class_names)} entries but there are {num_classes} classes.")
    return [str(c) for c in class_names]


def _class_colors(num_classes: int) -> np.ndarray:
    from matplotlib import colormaps

    if num_classes <= 10:
        return np.asarray(colormaps["tab10"].colors)[:num_classes]
    if num_classes <= 20:
        return np.asarray(colormaps["tab20"].colors)[:num_classes]
    return colormaps["turbo"](np.linspace(0.0, 1.0, num_classes))


def _square_matrix(matrix: Any, name: str) -> np.ndarray:
    arr = to_numpy(matrix).astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"`{name}` must be a square (num_classes, num_classes) matrix, got shape {arr.shape}.")
    return arr


def _annotate(ax, values: np.ndarray, fmt: str, threshold: float) -> None:
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(
                j, i, format(v, fmt), ha="center", va="center", fontsize=7, color="white" if v > threshold else "black"
            )


def plot_transport_plan(
    plan: Any,
    labels: Any,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    sort_by_label: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 6.0),
    dpi: int = 100,
) -> str:
    """Heat map of an entropic transport plan between a batch of features and the ETF vectors (DisA Fig. 5).

    Args:
        plan (`np.ndarray` or `torch.Tensor` of shape `(batch, num_classes)`):
            Transport plan T (e.g. `DisALoss.last_plan`), rows = samples, columns = ETF vectors.
        labels (`np.ndarray` or `torch.Tensor` of shape `(batch,)`):
            Class of each row; rows are sorted by it and labelled with it.
        path (`str` or `Path`): PNG file to write.
        class_names (`list[str]`, *optional*): Names of the classes (defaults to their ids).
        sort_by_label (`bool`, *optional*, defaults to `True`): Sort the rows by class.
    """
    t = to_numpy(plan).astype(np.float64)
    if t.ndim != 2:
        raise ValueError(f"`plan` must have shape (batch, num_classes), got {t.shape}.")
    y = check_labels(labels, t.shape[1])
    if y.shape[0] != t.shape[0]:
        raise ValueError(f"`labels` has {y.shape[0]} entries but `plan` has {t.shape[0]} rows.")
    names = _class_names(class_names, t.shape[1])
    order = np.argsort(y, kind="stable") if sort_by_label else np.arange(y.shape[0])
    fig, axes = _figure(figsize, dpi)
    ax = axes[0, 0]
    image = ax.imshow(t[order] * t.shape[0], aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="T × batch size (row sums to 1)")
    ax.set_xlabel("ETF vector")
    ax.set_ylabel("sample (by label)")
    if t.shape[1] <= _MAX_LABELLED_CLASSES:
        ax.set_xticks(range(t.shape[1]), names, rotation=90 if class_names else 0)
    if t.shape[0] <= 64:
        ax.set_yticks(range(t.shape[0]), [names[k] for k in y[order]], fontsize=6)
    ax.set_title(title or "Transport plan of a batch")
    return _save(fig, path, dpi)


def plot_alignment_matrix(
    alignment: Any,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 5.0),
    dpi: int = 100,
) -> str:
    """Heat map of the alignment matrix A = Lᵀ T between classes and ETF vectors (DisA Fig. 2).

    Values are shown multiplied by K, so that a perfectly balanced diagonal plan reads 1 on the diagonal.

    Args:
        alignment (`np.ndarray` or `torch.Tensor` of shape `(num_classes, num_classes)`):
            `A[k, k']` = transport mass from the samples of class k to ETF vector k' (e.g.
            `DisALoss.alignment_matrix(labels, num_classes)`).
        path (`str` or `Path`): PNG file to write.
        class_names (`list[str]`, *optional*): Names of the classes.
        annotate (`bool`, *optional*): Write the values in the cells (default: when K ≤ 20).
    """
    a = _square_matrix(alignment, "alignment")
    k = a.shape[0]
    names = _class_names(class_names, k)
    shown = a * k
    fig, axes = _figure(figsize, dpi)
    ax = axes[0, 0]
    image = ax.imshow(shown, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="K · A")
    if annotate if annotate is not None else k <= _MAX_LABELLED_CLASSES:
        _annotate(ax, shown, ".2f", threshold=0.6 * np.nanmax(shown) if np.isfinite(shown).any() else 0.0)
    if k <= _MAX_LABELLED_CLASSES:
        ax.set_xticks(range(k), names, rotation=90 if class_names else 0)
        ax.set_yticks(range(k), names)
    ax.set_xlabel("ETF vector")
    ax.set_ylabel("class")
    ax.set_title(title or "Alignment matrix A = LᵀT")
    return _save(fig, path, dpi)


def _history_series(history: Sequence[Mapping[str, Any]], x_key: str | None) -> tuple[str, dict[str, list]]:
    rows = []
    for entry in history:
        rows.append({(k[5:] if k.startswith("eval_") else k): v for k, v in entry.items()})
    if x_key is None:
        x_key = "epoch" if rows and all(r.get("epoch") is not None for r in rows) else "step"
    series: dict[str, list] = {}
    for r in rows:
        x = r.get(x_key)
        if x is None:
            continue
        for key, value in r.items():
            if key == x_key or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(float(value)):
                series.setdefault(key, []).append((float(x), float(value)))
    return x_key, series


def plot_nc_traces(
    history: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    x_key: str | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 8.0),
    dpi: int = 100,
) -> str:
    """Neural-collapse diagnostics over training, four panels (DisA Fig. 3, SpA Figs. 1a and 4).

    Panels: covariance traces Tr(Σ_W) (dotted), Tr(Σ_B) (solid), Tr(Σ_T) (dashed); NC1 (log scale); NC2
    equinorm / equiangularity, NC3, NC4; feature–classifier cosine (overall and per shot group) with the accuracies.
    A panel whose metrics are absent from the history says so.

    Args:
        history (`list[dict]`):
            One dict per evaluation, e.g. `NeuralCollapseCallback.history` or the `eval_*` entries of
            `trainer.state.log_history`; keys may carry the `eval_` prefix. Needs `epoch` or `step`.
        path (`str` or `Path`): PNG file to write.
        x_key (`str`, *optional*): Key of the x axis (default `epoch` when every entry has one, else `step`).
    """
    x_key, series = _history_series(history, x_key)
    fig, axes = _figure(figsize, dpi, 2, 2)
    panels = [
        (
            "Covariance traces",
            [("trace_within", ":", "Tr(Σ_W)"), ("trace_between", "-", "Tr(Σ_B)"), ("trace_total", "--", "Tr(Σ_T)")],
            True,
        ),
        ("NC1 = Tr(Σ_W Σ_B⁺)/K", [("nc1", "-", "NC1")], True),
        (
            "NC2–NC4",
            [
                ("nc2_equinorm", "-", "NC2 equinorm"),
                ("nc2_equiangular", "--", "NC2 equiangular"),
                ("nc3", "-.", "NC3 self-duality"),
                ("nc4", ":", "NC4 ≠ nearest mean"),
            ],
            False,
        ),
        (
            "Feature–classifier cosine and accuracy",
            [
                ("spa_cosine", "-", "cos(w_k, μ_k − μ_G)"),
                ("spa_cosine_many", ":", "cos many"),
                ("spa_cosine_medium", ":", "cos medium"),
                ("spa_cosine_few", ":", "cos few"),
                ("accuracy", "--", "accuracy"),
                ("many_accuracy", "-.", "acc many"),
                ("medium_accuracy", "-.", "acc medium"),
                ("few_accuracy", "-.", "acc few"),
            ],
            False,
        ),
    ]
    for ax, (panel_title, lines, log_scale) in zip(axes.flat, panels):
        drawn = False
        for key, style, label in lines:
            points = series.get(key)
            if not points:
                continue
            xs, ys = zip(*sorted(points))
            ax.plot(xs, ys, style, marker="o", markersize=3, label=label)
            drawn = True
            if log_scale and min(ys) <= 0:
                log_scale = False
        if drawn:
            if log_scale:
                ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel(x_key)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def plot_class_mean_angles(
    class_mean_cosines: Any,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 5.5),
    dpi: int = 100,
) -> str:
    """Pairwise angles (degrees) of the centred class means, coloured around the simplex-ETF angle (DisA Fig. 7).

    The colour map is centred on arccos(−1/(K−1)) (96.4° for K = 10): white is the ETF angle, blue narrower, red
    wider. K counts the classes with a finite row (absent classes are NaN and left blank).

    Args:
        class_mean_cosines (`np.ndarray` of shape `(num_classes, num_classes)`):
            Cosines of the centred class means (`neural_collapse_metrics(...)["class_mean_cosines"]`).
        path (`str` or `Path`): PNG file to write.
        annotate (`bool`, *optional*): Write the angles in the cells (default: when K ≤ 20).
    """
    cos = _square_matrix(class_mean_cosines, "class_mean_cosines")
    k = cos.shape[0]
    names = _class_names(class_names, k)
    present = np.isfinite(np.diag(cos))
    k_present = int(present.sum())
    if k_present < 2:
        raise ValueError("`class_mean_cosines` needs at least 2 classes with finite entries.")
    etf_angle = math.degrees(math.acos(-1.0 / (k_present - 1)))
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    np.fill_diagonal(angles, np.nan)
    fig, axes = _figure(figsize, dpi)
    ax = axes[0, 0]
    norm = TwoSlopeNorm(vmin=0.0, vcenter=etf_angle, vmax=180.0)
    image = ax.imshow(np.ma.masked_invalid(angles), cmap="coolwarm", norm=norm, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="angle (degrees)")
    if annotate if annotate is not None else k <= _MAX_LABELLED_CLASSES:
        for (i, j), v in np.ndenumerate(angles):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
    if k <= _MAX_LABELLED_CLASSES:
        ax.set_xticks(range(k), names, rotation=90 if class_names else 0)
        ax.set_yticks(range(k), names)
    off = angles[np.ix_(present, present)]
    off = off[np.isfinite(off)]
    ax.set_title(
        title or f"Centred class-mean angles (ETF {etf_angle:.1f}°, mean |Δ| {np.abs(off - etf_angle).mean():.1f}°)",
        fontsize=10,
    )
    return _save(fig, path, dpi)


def plot_confusion_matrix(
    predictions: Any,
    labels: Any,
    path: str | Path,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    normalize: str | None = "true",
    annotate: bool | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 5.5),
    dpi: int = 100,
) -> str:
    """Confusion matrix computed with scikit-learn (DisA Fig. 6), rows = true class, columns = prediction.

    Args:
        predictions (`np.ndarray` or `torch.Tensor` of shape `(num_samples,)` or `(num_samples, num_classes)`):
            Predicted class ids or logits.
        labels (`np.ndarray` or `torch.Tensor` of shape `(num_samples,)`): True class ids.
        path (`str` or `Path`): PNG file to write.
        num_classes (`int`, *optional*): Defaults to the logits' columns or the largest id + 1.
        normalize (`str`, *optional*, defaults to `"true"`):
            As scikit-learn's `confusion_matrix`: `"true"` (rows sum to 1), `"pred"`, `"all"` or `None` (counts).
    """
    from sklearn.metrics import confusion_matrix

    valid = ("true", "pred", "all", None)
    if normalize not in valid:
        raise ValueError(f"Unknown normalize={normalize!r}; expected one of {valid}.")
    preds = to_numpy(predictions)
    if num_classes is None:
        num_classes = preds.shape[1] if preds.ndim == 2 else int(max(preds.max(), to_numpy(labels).max())) + 1
    if preds.ndim == 2:
        preds = preds.argmax(axis=1)
    preds = check_labels(preds, num_classes, name="predictions")
    y = check_labels(labels, num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        cm = confusion_matrix(y, preds, labels=np.arange(num_classes), normalize=normalize)
    names = _class_names(class_names, num_classes)
    fig, axes = _figure(figsize, dpi)
    ax = axes[0, 0]
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="fraction" if normalize else "count")
    if annotate if annotate is not None else num_classes <= _MAX_LABELLED_CLASSES:
        _annotate(ax, cm, ".2f" if normalize else "d", threshold=0.6 * float(np.nanmax(cm)))
    if num_classes <= _MAX_LABELLED_CLASSES:
        ax.set_xticks(range(num_classes), names, rotation=90 if class_names else 0)
        ax.set_yticks(range(num_classes), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "Confusion matrix")
    return _save(fig, path, dpi)


def plot_tsne(
    features: Any,
    labels: Any,
    path: str | Path,
    *,
    weight: Any = None,
    max_samples: int = 2000,
    seed: int = 0,
    perplexity: float = 30.0,
    max_iter: int = 1000,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 6.0),
    dpi: int = 100,
) -> str:
    """t-SNE of features (∘) with class means (★) and classifier weights (▲) (DisA Fig. 4), scikit-learn's TSNE.

    Class means are computed from all samples; the plotted samples are an even per-class subsample of at most
    `max_samples` (seeded). A classifier weight w_k has no natural place in feature space, so it is drawn at
    μ_G + ‖μ_k − μ_G‖ · w_k / ‖w_k‖ (μ_G the mean of class means): on top of the class mean when w_k points along
    the centred mean, away from it when feature and classifier spaces are misaligned (SpA). All points are
    embedded together (after PCA to 50 dimensions when the features are wider).

    Args:
        features (`np.ndarray` or `torch.Tensor` of shape `(num_samples, dim)`): Features.
        labels (`np.ndarray` or `torch.Tensor` of shape `(num_samples,)`): Class ids.
        path (`str` or `Path`): PNG file to write.
        weight (`np.ndarray` or `torch.Tensor` of shape `(num_classes, dim)`, *optional*): Classifier weight.
        max_samples (`int`, *optional*, defaults to 2000): Samples embedded (t-SNE is quadratic-ish in them).
        seed (`int`, *optional*, defaults to 0): Seed of the subsample, PCA and t-SNE.
        perplexity (`float`, *optional*, defaults to 30): t-SNE perplexity (capped below the number of points).
        max_iter (`int`, *optional*, defaults to 1000): t-SNE iterations (at least 250).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    h = to_numpy(features).astype(np.float64)
    if h.ndim != 2:
        raise ValueError(f"`features` must have shape (num_samples, dim), got {h.shape}.")
    w = None if weight is None else to_numpy(weight).astype(np.float64)
    num_classes = w.shape[0] if w is not None else int(to_numpy(labels).max()) + 1
    y = check_labels(labels, num_classes)
    if y.shape[0] != h.shape[0]:
        raise ValueError(f"`labels` has {y.shape[0]} entries but `features` has {h.shape[0]} rows.")
    if w is not None and w.shape[1] != h.shape[1]:
        raise ValueError(f"`weight` has dim {w.shape[1]} but the features have dim {h.shape[1]}.")
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError("t-SNE needs samples of at least 2 classes.")

    rng = np.random.default_rng(seed)
    quota = max(1, max_samples // classes.size)
    picked = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:quota] for c in classes])
    means = np.stack([h[y == c].mean(axis=0) for c in classes])
    global_mean = means.mean(axis=0)
    points = [h[picked], means]
    if w is not None:
        w_present = w[classes]
        radius = np.linalg.norm(means - global_mean, axis=1, keepdims=True)
        unit = w_present / np.maximum(np.linalg.norm(w_present, axis=1, keepdims=True), np.finfo(float).tiny)
        points.append(global_mean + radius * unit)
    stacked = np.concatenate(points)
    if stacked.shape[1] > 50 and stacked.shape[0] > 50:
        stacked = PCA(n_components=50, random_state=seed).fit_transform(stacked)
    perplexity = min(perplexity, max(1.0, (stacked.shape[0] - 1) / 3.0))
    # Barnes-Hut t-SNE runs many tiny OpenMP regions; next to torch's own OpenMP runtime the two thread pools
    # oversubscribe the cores and it slows down 10-50x, so it runs single-threaded (a few seconds for 2,000 points)
    with threadpool_limits(limits=1, user_api="openmp"):
        embedded = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=max(250, max_iter)
        ).fit_transform(stacked)

    n_feat, n_cls = picked.size, classes.size
    colors = _class_colors(num_classes)
    names = _class_names(class_names, num_classes)
    fig, axes = _figure(figsize, dpi)
    ax = axes[0, 0]
    ax.scatter(embedded[:n_feat, 0], embedded[:n_feat, 1], c=colors[y[picked]], s=6, alpha=0.5, linewidths=0)
    ax.scatter(
        embedded[n_feat : n_feat + n_cls, 0],
        embedded[n_feat : n_feat + n_cls, 1],
        c=colors[classes],
        marker="*",
        s=220,
        edgecolors="black",
        linewidths=0.8,
    )
    if w is not None:
        ax.scatter(
            embedded[n_feat + n_cls :, 0],
            embedded[n_feat + n_cls :, 1],
            c=colors[classes],
            marker="^",
            s=110,
            edgecolors="black",
            linewidths=0.8,
        )
    if n_cls <= _MAX_LABELLED_CLASSES:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="o", linestyle="", color=colors[c], label=names[c], markersize=6) for c in classes
        ]
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                linestyle="",
                color="gray",
                markeredgecolor="black",
                markersize=12,
                label="class mean",
            )
        )
        if w is not None:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="^",
                    linestyle="",
                    color="gray",
                    markeredgecolor="black",
                    markersize=9,
                    label="classifier weight",
                )
            )
        ax.legend(handles=handles, fontsize=7, loc="best", ncol=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of {n_feat} features, {n_cls} classes")
    return _save(fig, path, dpi)


def plot_per_class_accuracy(
    per_class_accuracy: Any,
    train_class_counts: Sequence[int],
    path: str | Path,
    *,
    many: int = 100,
    few: int = 20,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
    dpi: int = 100,
) -> str:
    """Test accuracy of each class against its number of training images (log x), shot groups coloured.

    Args:
        per_class_accuracy (sequence of `float | None` of length `num_classes`):
            `long_tail_accuracy(...)["per_class_accuracy"]`; `None`/NaN entries (no test sample) are skipped.
        train_class_counts (sequence of `int` of length `num_classes`): Training images per class.
        path (`str` or `Path`): PNG file to write.
        many, few (`int`): Shot-group thresholds, drawn as vertical lines.
        class_names (`list[str]`, *optional*): Annotates the points when there are at most 20 classes.
    """
    acc = np.array([np.nan if v is None else float(v) for v in to_numpy(per_class_accuracy).tolist()])
    counts = to_numpy(train_class_counts).astype(np.float64)
    if acc.shape != counts.shape or acc.ndim != 1:
        raise ValueError(
            f"`per_class_accuracy` ({acc.shape}) and `train_class_counts` ({counts.shape}) must be 1-D, equally long."
        )
    masks = shot_group_masks(counts, many=many, few=few)
    x = np.maximum(counts, 1.0)
    fig, axes = _figure(figsize, dpi)
    ax = axes[0, 0]
    for group in SHOT_GROUPS:
        sel = masks[group] & np.isfinite(acc)
        if sel.any():
            ax.scatter(
                x[sel],
                acc[sel],
                s=18,
                color=_GROUP_COLORS[group],
                label=f"{group} ({int(sel.sum())} classes, mean {acc[sel].mean():.3f})",
            )
    if class_names is not None and acc.size <= _MAX_LABELLED_CLASSES:
        names = _class_names(class_names, acc.size)
        for k in np.flatnonzero(np.isfinite(acc)):
            ax.annotate(names[k], (x[k], acc[k]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.axvline(many + 0.5, color="gray", linestyle="--", linewidth=0.8)
    ax.axvline(few - 0.5, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("training images of the class (log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Per-class accuracy against training count")
    return _save(fig, path, dpi)


__all__ = [
    "plot_alignment_matrix",
    "plot_class_mean_angles",
    "plot_confusion_matrix",
    "plot_nc_traces",
    "plot_per_class_accuracy",
    "plot_transport_plan",
    "plot_tsne",
]
