"""What a trial leaves in its folder: status.json, metrics.jsonl, sample grids, TensorBoard scalars.

`status.json` is the trial's single source of truth and is written atomically, last: a folder without it
(or with state `failed`) is not complete, whatever else it holds. This module is the one owner of that file:
its states, its writers (the trial, and the sweep for a trial process that died without writing it) and
its readers (the trial, the sweep, `gan-bench status`). It imports no JAX, so the sweep driver can use it.
"""
import io
import json
import math
import os
import re
import time
from typing import Dict, List, Optional

import numpy as np

from gan_bench.atomic import atomic_write_bytes

STATUS_FILE = "status.json"
FINAL_STATES = ("done", "diverged")  # never run again
RECORDED_STATES = FINAL_STATES + ("failed",)  # what status.json may say; `failed` is retried by a rerun
_EXPECTED = f'{{"state": one of {", ".join(RECORDED_STATES)}, "step": n, ...}}'


def read_status(workdir: str) -> Optional[dict]:
    """The trial's status.json, or None when it has none; ValueError naming the file when it is unreadable."""
    path = os.path.join(workdir, STATUS_FILE)
    try:
        with open(path) as f:
            status = json.load(f)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); expected {_EXPECTED}") from e
    if not isinstance(status, dict) or status.get("state") not in RECORDED_STATES:
        raise ValueError(f"{path}: expected {_EXPECTED}, got {str(status)[:200]}")
    return status


def is_final(workdir: str) -> bool:
    """Done or diverged: a sweep skips the trial and a rerun returns at once."""
    status = read_status(workdir)
    return status is not None and status["state"] in FINAL_STATES


def write_status(workdir: str, state: str, step: int, **extra) -> dict:
    if state not in RECORDED_STATES:
        raise ValueError(f"status state must be one of {RECORDED_STATES}, got {state!r}")
    status = {"state": state, "step": int(step), "time": time.time(), **extra}
    atomic_write_bytes(os.path.join(workdir, STATUS_FILE),
                       (json.dumps(jsonable(status), indent=1, sort_keys=True) + "\n").encode())
    return status


def mark_failed(workdir: str, error: str) -> dict:
    """Record a trial whose process died without writing its own status (killed, out of memory, ...)."""
    try:
        previous = read_status(workdir) or {}
    except ValueError:
        previous = {}
    return write_status(workdir, "failed", int(previous.get("step") or 0), error=error)


def clear_status(workdir: str) -> None:
    """A rerun of a failed trial starts without the old failure on record."""
    try:
        os.remove(os.path.join(workdir, STATUS_FILE))
    except FileNotFoundError:
        pass


def jsonable(x):
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)  # JSON has no NaN/Inf
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x


class MetricsLog:
    """metrics.jsonl: one JSON object per evaluation, `{"step": n, ...}`, steps strictly increasing."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "metrics.jsonl")

    def read(self) -> List[dict]:
        if not os.path.exists(self.path):
            return []
        rows = []
        with open(self.path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line torn by a kill: everything after it is dropped
        return rows

    def truncate_after(self, step: int) -> None:
        """On resume, drop evaluations newer than the restored checkpoint so none is recorded twice."""
        rows = [r for r in self.read() if r["step"] <= step]
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in rows).encode())

    def append(self, row: Dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(jsonable(row)) + "\n")
            f.flush()
            os.fsync(f.fileno())


def image_grid(images: np.ndarray, cols: int = 8) -> np.ndarray:
    """[N, H, W, C] in [-1, 1] -> one uint8 [rows*H, cols*W, C] mosaic."""
    n, h, w, c = images.shape
    rows = math.ceil(n / cols)
    grid = np.full((rows * h, cols * w, c), -1.0, np.float32)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = img
    return np.round((np.clip(grid, -1, 1) + 1) * 127.5).astype(np.uint8)


def save_samples_png(path: str, samples: np.ndarray, real: Optional[np.ndarray] = None,
                     title: Optional[str] = None) -> np.ndarray:
    """Write a sample grid (images) or a scatter plot (2-D points) as PNG, atomically; returns the picture as uint8.

    2-D points get a titled plot: `title`, or by default the trial folder's name and the step read from a path
    `<trial>/samples/step_<n>.png`. Generated points are drawn semi-transparent and the real points on top as
    small dark markers, so a generator piled on the modes cannot hide them. The view spans the real data and the
    bulk (2nd-98th percentile) of the generated points; points outside it are counted in the legend. 2-D points
    are also kept as numbers beside the picture (`step_<n>.npz`, array `generated`, a few KB), so a report can
    redraw them side by side with other trials' without running the generator again.
    """
    from PIL import Image  # pylint: disable=import-outside-toplevel

    os.makedirs(os.path.dirname(path), exist_ok=True)
    if samples.ndim == 2:
        arrays = io.BytesIO()
        np.savez(arrays, generated=np.asarray(samples, np.float32))
        atomic_write_bytes(os.path.splitext(path)[0] + ".npz", arrays.getvalue())
        picture = _scatter(samples, real, title if title is not None else _title_from_path(path))
    else:
        picture = image_grid(samples[:64])
    img = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return picture


def _title_from_path(path: str) -> str:
    """'trial 08c69af05c28, step 2,000' from '.../08c69af05c28/samples/step_0002000.png' (parts it can find)."""
    folder = os.path.dirname(os.path.abspath(path))
    trial = os.path.basename(os.path.dirname(folder)) if os.path.basename(folder) == "samples" else ""
    step = re.search(r"step_0*(\d+)", os.path.basename(path))
    parts = ([f"trial {trial}"] if trial else []) + ([f"step {int(step.group(1)):,}"] if step else [])
    return ", ".join(parts) or os.path.basename(path)


def square_view(samples: np.ndarray, real: Optional[np.ndarray]):
    """Square axis limits covering the real points and the bulk (2nd-98th percentile) of the generated ones,
    with a 10 % margin: a few far-off samples must not shrink the modes to dots."""
    bulk = np.percentile(samples, [2, 98], axis=0)
    lo, hi = bulk[0], bulk[1]
    if real is not None and len(real):
        lo, hi = np.minimum(lo, real.min(axis=0)), np.maximum(hi, real.max(axis=0))
    centre, half = (lo + hi) / 2, 0.55 * max(float(np.max(hi - lo)), 1e-3)
    return centre - half, centre + half


def draw_points_2d(ax, samples: np.ndarray, real: Optional[np.ndarray], fontsize: str = "small") -> None:
    """Generated points semi-transparent, the real ones on top as small dark markers, in `square_view`; the
    legend (below the axes) counts both and the generated points left outside the view. Shared by the trial's
    own sample plot and the report's samples figure."""
    samples = np.asarray(samples, np.float64)
    lo, hi = square_view(samples, real)
    outside = int((~np.all((samples >= lo) & (samples <= hi), axis=1)).sum())
    label = f"generated ({len(samples):,}" + (f", {outside:,} outside the view)" if outside else ")")
    ax.scatter(samples[:, 0], samples[:, 1], s=6, c="tab:orange", alpha=0.3, linewidths=0, zorder=2, label=label)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=1.5, c="black", alpha=0.8, linewidths=0, zorder=3,
                   label=f"real ({len(real):,})")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=fontsize, frameon=False,
              markerscale=3)


def _scatter(samples, real, title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
    from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

    fig = Figure(figsize=(4.5, 4.9), dpi=80, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw_points_2d(ax, samples, real)
    ax.set_title(title, fontsize="medium")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
