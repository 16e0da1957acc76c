"""The samples figure of a 2-D mixture study: one panel per (dataset, model), the right trial in each panel.

Oracles: the rankings and first seeds recomputed here from MODES_STUDY with numpy, colours painted into the trials'
sample pictures and looked for in the figure's pixels, matplotlib's own objects (panels, images, scatter offsets),
and the closed-form ring8 modes (radius 1, std 0.01) for the real points.
"""
import os

import numpy as np
from PIL import Image

from gan_bench.report import load_results, metric_table, report_main
from gan_bench.report.metric_groups import MODES_2D
from gan_bench.report.samples import samples_figure, trim_margins
from report_study import MODES_STUDY, make_trial, write_modes_study

STEP = 100  # make_trial's status step: the step the trials ended at
# One colour per (dataset, model) for the first seed's picture; every other seed is painted WRONG.
COLOURS = {("grid25", "PacGAN2"): (230, 30, 30), ("grid25", "NS GAN"): (30, 160, 30),
           ("grid25", "NS GAN + R1"): (30, 30, 230), ("ring8", "PacGAN2"): (230, 150, 0),
           ("ring8", "NS GAN"): (0, 170, 170), ("ring8", "NS GAN + R1"): (120, 60, 20)}
WRONG = (200, 0, 200)


def _picture(path, colour, size=240, square=(60, 180)):
    """A white picture with one solid square, as a trial's samples/step_<n>.png."""
    pixels = np.full((size, size, 3), 255, np.uint8)
    pixels[square[0]:square[1], square[0]:square[1]] = colour
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path)


def _study_with_pictures(root):
    """MODES_STUDY trials (folders m000.. in its order, seeds 0, 1, 2), each with a picture at its last step."""
    write_modes_study(root)
    n = 0
    for key, seeds in MODES_STUDY.items():
        for seed in range(len(seeds)):
            _picture(os.path.join(str(root), f"m{n:03d}", "samples", f"step_{STEP:07d}.png"),
                     COLOURS[key] if seed == 0 else WRONG)
            n += 1
    return root


def _ranked_models(dataset):
    """Models of `dataset` best first, by mean modes covered then mean high-quality fraction (numpy)."""
    means = {m: (np.mean([s[0] for s in v]), np.mean([s[1] for s in v])) for (d, m), v in MODES_STUDY.items()
             if d == dataset}
    return sorted(means, key=lambda m: (-means[m][0], -means[m][1]))


def _where(picture, colour, tol=12):
    """(row, column) of every pixel within `tol` of `colour` per channel."""
    return np.argwhere((np.abs(picture.astype(int) - np.array(colour)) <= tol).all(axis=-1))


def test_trim_margins_keeps_the_content_and_a_pad():
    pixels = np.full((50, 80, 3), 255, np.uint8)
    pixels[10:20, 30:61] = (0, 0, 0)
    assert trim_margins(pixels, pad=2).shape == (10 + 4, 31 + 4, 3)
    assert trim_margins(np.full((5, 5, 3), 255, np.uint8)).shape == (5, 5, 3)  # nothing drawn: kept as it is


def test_one_panel_per_model_with_its_first_seed(tmp_path):
    root = _study_with_pictures(tmp_path / "results")
    df = load_results([str(root)])
    fig, reason = samples_figure(df, metric_table(df, MODES_2D))
    assert reason == ""
    datasets = ["grid25", "ring8"]  # the table's order
    columns = _ranked_models("grid25")  # every row keeps the columns of the first dataset's ranking
    assert len(fig.subfigs) == len(datasets)
    for subfig, dataset in zip(fig.subfigs, datasets):
        assert [t.get_text() for t in subfig.texts] == [f"{dataset}, step {STEP}"]
        assert len(subfig.axes) == len(columns)
        for ax, model in zip(subfig.axes, columns):
            assert len(ax.images) == 1  # the trial's own picture
            modes, hq, _ = MODES_STUDY[(dataset, model)][0]  # seed 0's last evaluation
            capacity = 25 if dataset == "grid25" else 8
            # High-quality % in the decimals of the table column (0: its smallest std is 1.5 %).
            assert ax.get_title() == f"{model} (seed 0)\n{modes} of {capacity} modes, {100 * hq:.0f} % high-quality"


def test_figure_pixels_show_each_first_seed_in_its_cell(tmp_path):
    root = _study_with_pictures(tmp_path / "results")
    out = tmp_path / "out"
    written = report_main([str(root)], str(out), n_boot=50)
    with Image.open(written["samples_2d.png"]) as image:
        picture = np.asarray(image.convert("RGB"))
    height, width = picture.shape[:2]
    columns = _ranked_models("grid25")
    assert not len(_where(picture, WRONG))  # no other seed is shown
    for (dataset, model), colour in COLOURS.items():
        found = _where(picture, colour)
        assert len(found) > 500, (dataset, model)  # the painted square, scaled into the panel
        row, col = ["grid25", "ring8"].index(dataset), columns.index(model)
        top, bottom = found[:, 0].min() / height, found[:, 0].max() / height
        left, right = found[:, 1].min() / width, found[:, 1].max() / width
        assert row / 2 < top and bottom < (row + 1) / 2, (dataset, model, top, bottom)
        assert col / 3 < left and right < (col + 1) / 3, (dataset, model, left, right)


def test_index_shows_the_samples_figure_first(tmp_path):
    out = tmp_path / "out"
    report_main([str(_study_with_pictures(tmp_path / "results"))], str(out), n_boot=50)
    lines = (out / "index.md").read_text().splitlines()
    listed = lines.index("## Tables and figures")
    shown = [i for i, line in enumerate(lines) if line.startswith("![")]
    assert len(shown) == 1 and shown[0] < listed and lines[shown[0]].endswith("](samples_2d.png)")
    figures = [line for line in lines[listed:] if ".png](" in line]
    assert figures[0].startswith("- [samples_2d.png](samples_2d.png)")


def test_not_drawn_without_samples(tmp_path):
    out = tmp_path / "out"
    written = report_main([str(write_modes_study(tmp_path / "results"))], str(out), n_boot=50)
    assert "samples_2d.png" not in written
    index = (out / "index.md").read_text()
    assert "- samples_2d.png: not drawn (no trial of grid25, ring8 saved samples" in index
    assert "![" not in index


def test_points_drawn_from_saved_arrays_with_real_points_on_top(tmp_path):
    rng = np.random.default_rng(0)
    generated = rng.normal(0.0, 0.7, (500, 2)).astype(np.float32)
    root = tmp_path / "results"
    evals = [{"modes_covered": 8.0, "high_quality_fraction": 0.8, "reverse_kl": 0.1}]
    for seed in (1, 0):  # the lowest seed is shown, whatever the folder order
        folder = make_trial(root, f"ns{seed}", {"trial.dataset": "ring8"}, seed, metrics=("modes_2d",), evals=evals,
                            step=STEP)
        os.makedirs(os.path.join(folder, "samples"))
        np.savez(os.path.join(folder, "samples", f"step_{STEP:07d}.npz"), generated=generated * (1 + seed))
        _picture(os.path.join(folder, "samples", f"step_{STEP:07d}.png"), WRONG)  # the array is preferred
    make_trial(root, "pac0", {"trial.dataset": "ring8", "trial.pack": 2}, 0, state="running", metrics=("modes_2d",))
    df = load_results([str(root)])
    fig, _ = samples_figure(df, metric_table(df, MODES_2D))
    (subfig,) = fig.subfigs
    assert len(subfig.axes) == 2  # NS GAN and PacGAN2, which has no samples yet
    drawn, waiting = subfig.axes
    assert not drawn.images and len(drawn.collections) == 2
    fake, real = drawn.collections
    np.testing.assert_allclose(fake.get_offsets(), generated, rtol=1e-6)  # seed 0's points, as saved
    assert real.get_zorder() > fake.get_zorder()  # real points on top
    points = np.asarray(real.get_offsets())
    modes = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], axis=1)
    nearest = np.min(np.linalg.norm(points[:, None] - modes[None], axis=-1), axis=1)
    assert len(points) == 2000 and nearest.max() < 6 * 0.01  # ring8 data: std 0.01 around the 8 modes
    assert set(np.argmin(np.linalg.norm(points[:, None] - modes[None], axis=-1), axis=1)) == set(range(8))
    assert waiting.get_title().startswith("PacGAN2 (seed 0, running)")
    assert [t.get_text() for t in waiting.texts] == ["no samples saved yet (running)"]

