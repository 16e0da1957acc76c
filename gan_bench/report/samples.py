"""The generated samples of a 2-D mixture study, one panel per model: what the mode counts look like.

One row of panels per dataset, one panel per model in the order of the modes_2d table (best first). A panel
shows one trial: the lowest seed of the model's best configuration (the table row's configuration), or of all
its trials when none is scored yet, and that trial's last samples. The report runs no generator, so it draws
what the trial saved in `samples/`:
- `step_<n>.npz` with an array `generated` [N, 2]: drawn here, generated points semi-transparent and the
  dataset's real points on top;
- otherwise `step_<n>.png`, the trial's own scatter plot, shown as an image.
The panel title gives the model, the seed and the trial's last evaluation (modes covered, high-quality %), with
the high-quality % in the decimals of the table column; each row's title gives the dataset and the step.
"""
import math
import os
import re
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gan_bench import outputs
from gan_bench.report import summaries
from gan_bench.report.figures import Plot, save_figure
from gan_bench.report.metric_groups import MODES_2D, mixture_modes
from gan_bench.report.tables import Table

SAMPLES_DIR = "samples"
SAMPLE_ARRAY = "generated"  # the key of the [N, 2] generated points in samples/step_<n>.npz
_STEP_FILE = re.compile(r"^step_(\d+)\.(png|npz)$")
REAL_POINTS = 2000  # real points drawn on top of the generated ones, as many as the trial's own plots
PANEL_INCHES = 3.6


def last_samples(folder: str) -> Optional[Tuple[int, str]]:
    """(step, path) of the newest samples a trial saved, the .npz when both exist at that step; None if none."""
    directory = os.path.join(folder, SAMPLES_DIR)
    if not os.path.isdir(directory):
        return None
    found: Dict[int, Dict[str, str]] = {}
    for name in os.listdir(directory):
        match = _STEP_FILE.match(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = os.path.join(directory, name)
    if not found:
        return None
    step = max(found)
    return step, found[step].get("npz") or found[step]["png"]


def _panel_trial(df: pd.DataFrame, row: pd.Series) -> Optional[pd.Series]:
    """The trial a table row is shown by: lowest seed of its configuration (of all the model's trials if none)."""
    trials = df[(df["dataset"].astype(str) == str(row["dataset"])) & (df["model"] == row["model"])]
    config = trials[trials["config_id"] == row["config_id"]] if isinstance(row["config_id"], str) else trials
    if config.empty:
        config = trials
    with_samples = config[config["folder"].map(lambda f: last_samples(f) is not None)]
    ordered = (with_samples if len(with_samples) else config).sort_values(["seed", "id"], na_position="last")
    return ordered.iloc[0] if len(ordered) else None


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _panel_title(trial: pd.Series, step: Optional[int], capacity: Optional[int], decimals: Optional[int]) -> str:
    """'NS GAN + R1 (seed 0)' over '8 of 8 modes, 12.5 % high-quality' (its last evaluation)."""
    unfinished = "" if trial["state"] in ("done", "diverged") else f", {trial['state']}"
    head = f"{trial['model']} (seed {trial['seed']}{unfinished})"
    modes, hq = _float(trial.get("final_modes_covered")), _float(trial.get("final_high_quality_fraction"))
    parts = []
    if modes == modes:
        parts.append(f"{modes:g} of {capacity} modes" if capacity else f"{modes:g} modes")
    if hq == hq:
        parts.append(f"{summaries.number(hq, MODES_2D.metric('high_quality_fraction'), decimals)} % high-quality")
    text = head + ("\n" + ", ".join(parts) if parts else "\nnot evaluated yet")
    if step is not None and trial["step"] == trial["step"] and int(trial["step"]) != step:
        text += f"\n(samples of step {step:,})"
    return text


def _real_points(dataset: str) -> Optional[np.ndarray]:
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    try:
        source = data.load(dataset, "test", num_examples=REAL_POINTS)
        return source.get(np.arange(min(REAL_POINTS, source.num_examples)))
    except (ValueError, TypeError, OSError):
        return None


def _draw_points(ax, path: str, real: Optional[np.ndarray]):
    with np.load(path) as archive:
        if SAMPLE_ARRAY not in archive.files:
            raise ValueError(f"{path}: no array {SAMPLE_ARRAY!r} (found {archive.files})")
        points = np.asarray(archive[SAMPLE_ARRAY], np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or not len(points):
        raise ValueError(f"{path}: {SAMPLE_ARRAY!r} must be [N, 2] points, got shape {points.shape}")
    outputs.draw_points_2d(ax, points, real, fontsize="x-small")
    ax.tick_params(labelsize="x-small")


def trim_margins(picture: np.ndarray, pad: int = 2) -> np.ndarray:
    """`picture` [H, W, 3] without the white margins around its content (`pad` pixels of them kept)."""
    content = (picture < 250).any(axis=-1)
    if not content.any():
        return picture
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    return picture[max(rows[0] - pad, 0):rows[-1] + pad + 1, max(cols[0] - pad, 0):cols[-1] + pad + 1]


def _draw_picture(ax, path: str):
    from PIL import Image  # pylint: disable=import-outside-toplevel
    with Image.open(path) as image:
        ax.imshow(trim_margins(np.asarray(image.convert("RGB"))), interpolation="antialiased")
    ax.set_axis_off()


def _empty(ax, text: str):
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize="small", transform=ax.transAxes)
    ax.set_axis_off()


def samples_figure(df: pd.DataFrame, table: Table) -> Tuple[Optional[Figure], str]:
    """(figure, "") with one panel per (dataset, model) row of the modes_2d `table`, or (None, why not).

    A model keeps its column in every dataset's row (the models in the table order of the first dataset, then
    the others), so panels of one model sit one above the other.
    """
    if "folder" not in df.columns:
        return None, "the trial frame has no trial folders"
    frame = table.frame[table.frame["dataset"].astype(str).map(lambda d: mixture_modes(d) is not None)]
    datasets, models = list(dict.fromkeys(frame["dataset"].astype(str))), list(dict.fromkeys(frame["model"]))
    panels: Dict[str, Dict[str, tuple]] = {}
    for _, row in frame.iterrows():
        trial = _panel_trial(df, row)
        found = last_samples(trial["folder"]) if trial is not None else None
        panels.setdefault(str(row["dataset"]), {})[row["model"]] = (trial, found)
    if not any(found for row in panels.values() for _, found in row.values()):
        return None, f"no trial of {', '.join(datasets) or 'a 2-D mixture'} saved samples (samples/step_<n>.png)"
    fig = Figure(figsize=(PANEL_INCHES * len(models), (PANEL_INCHES + 0.8) * len(datasets) + 0.4),
                 layout="constrained")
    fig.suptitle("Generated samples at the end of training, one trial per model", fontsize="x-large")
    decimals = table.decimals.get("high_quality_fraction")
    for subfig, dataset in zip(fig.subfigures(len(datasets), 1, squeeze=False)[:, 0], datasets):
        row = panels[dataset]
        steps = {found[0] for _, found in row.values() if found}
        subfig.suptitle(f"{dataset}, step {steps.pop():,}" if len(steps) == 1 else dataset, fontsize="large")
        axes = subfig.subplots(1, len(models), squeeze=False)[0]
        real = _real_points(dataset) if any(f and f[1].endswith(".npz") for _, f in row.values()) else None
        for ax, model in zip(axes, models):
            if model not in row:
                ax.remove()
                continue
            trial, found = row[model]
            if trial is None:
                _empty(ax, f"{model}: no trial")
                continue
            ax.set_title(_panel_title(trial, found[0] if found else None, mixture_modes(dataset), decimals),
                         fontsize="medium")
            if found is None:
                _empty(ax, f"no samples saved yet ({trial['state']})")
            elif found[1].endswith(".npz"):
                _draw_points(ax, found[1], real)
            else:
                _draw_picture(ax, found[1])
    return fig, ""


def plot_samples_2d(df: pd.DataFrame, table: Table, path: str) -> Plot:
    """`samples_figure` written to `path` (PNG, atomically): (path, "") or (None, why nothing was drawn)."""
    fig, reason = samples_figure(df, table)
    return (save_figure(fig, path), "") if fig is not None else (None, reason)
