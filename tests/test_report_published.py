"""The published table's layout (PacGAN Table 1) from a small synthetic results folder: every cell checked
against means and sample stds computed here with `statistics`, and the published values beside them."""
import json
import math
import os
import statistics

import pandas as pd
import pytest

from gan_bench.report import report_main
from gan_bench.report.published import SOURCES, source_of

# (dataset, pack) -> per seed (modes covered, high-quality fraction, reverse KL); "inf" as the trainer writes it.
SEEDS = {
    ("ring8", 1): [(6, 0.90, 0.40), (7, 0.96, 0.30)],
    ("ring8", 2): [(8, 0.95, 0.05), (8, 0.97, 0.07), (7, 0.93, "inf")],
    ("grid25", 4): [(25, 0.90, 0.04)],
}
RING_PRESET = "gin_configs/presets/pacgan_ring.gin"


def _trial(root, tid, dataset, pack, seed, evals, state="done", gin_files=(RING_PRESET,), step=2000):
    folder = os.path.join(str(root), tid)
    os.makedirs(folder)
    bindings = {"trial.dataset": dataset, "trial.pack": pack, "trial.seed": seed}
    with open(os.path.join(folder, "trial.json"), "w") as f:
        json.dump({"id": tid, "sweep": "sweeps/pacgan_table1.gin", "gin_files": list(gin_files),
                   "bindings": bindings, "seed": seed}, f)
    with open(os.path.join(folder, "config.gin"), "w") as f:
        f.write("".join(f"{k} = {v!r}\n" for k, v in bindings.items()) +
                "trial.metrics = ['modes_2d']\ntrial.g_bn_eval = 'running'\n")
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for i, (modes, hq, kl) in enumerate(evals):
            f.write(json.dumps({"step": step // len(evals) * (i + 1), "modes_covered": modes,
                                "high_quality_fraction": hq, "reverse_kl": kl}) + "\n")
    if state:
        with open(os.path.join(folder, "status.json"), "w") as f:
            json.dump({"state": state, "step": step}, f)


def _scored_trials(root):
    """The trials of SEEDS, each evaluated at step 1,000 (modes 1, high-quality 10 %, reverse KL 2.0: an earlier
    evaluation that the final one must replace) and at step 2,000 (its values in SEEDS)."""
    n = 0
    for (dataset, pack), seeds in SEEDS.items():
        for seed, final in enumerate(seeds):
            _trial(root, f"t{n:03d}", dataset, pack, seed, [(1, 0.1, 2.0), final])
            n += 1


@pytest.fixture(name="study")
def fixture_study(tmp_path):
    root = tmp_path / "results"
    _scored_trials(root)
    _trial(root, "failed", "ring8", 1, 9, [(0, 0.0, 9.0)], state="failed")  # counted, never scored
    _trial(root, "running", "ring8", 1, 8, [(0, 0.0, 9.0)], state=None)  # no status yet: running
    _trial(root, "other", "ring8", 1, 7, [(8, 1.0, 0.0)], gin_files=("gin_configs/presets/ring8_mlp.gin",))
    out = tmp_path / "report"
    written = report_main([str(root)], str(out), n_boot=10)
    return written, out


def _mean_std(values, decimals):
    if len(values) == 1:
        return f"{values[0]:.{decimals}f} (1 seed)"
    return f"{statistics.mean(values):.{decimals}f} ± {statistics.stdev(values):.{decimals}f}"


def test_paper_table_cells_against_hand_computation(study):
    written, out = study
    assert "paper_pacgan_table1.md" in written and "paper_pacgan_table2.md" not in written
    frame = pd.read_csv(out / "paper_pacgan_table1.csv")
    assert list(frame["dataset"]) == ["ring8", "grid25"]  # the paper's row order
    rows = frame.set_index("dataset")
    names = dict(SOURCES["pacgan_table1"].variants)
    for (dataset, pack), seeds in SEEDS.items():
        name = names[pack]
        row = rows.loc[dataset]
        assert row[f"{name}_seeds"] == len(seeds)
        modes = [s[0] for s in seeds]
        hq = [100 * s[1] for s in seeds]
        assert row[f"{name}_modes_covered_mean"] == pytest.approx(statistics.mean(modes))
        assert row[f"{name}_high_quality_fraction_mean"] == pytest.approx(statistics.mean(hq))
        assert row[f"{name}_modes_covered"] == _mean_std(modes, 1)
        assert row[f"{name}_high_quality_fraction"] == _mean_std(hq, 1)
        if len(seeds) > 1:
            assert row[f"{name}_modes_covered_std"] == pytest.approx(statistics.stdev(modes))
    # The ring's GAN cell over two seeds of 0.40 and 0.30; PacGAN2 with one infinite reverse KL of three seeds.
    assert rows.loc["ring8", "GAN_reverse_kl"] == _mean_std([0.40, 0.30], 2)
    assert rows.loc["ring8", "PacGAN2_reverse_kl"] == f"∞ in 1 of 3 seeds (others {_mean_std([0.05, 0.07], 2)})"
    # Variants without trials: no seeds and a dash, their published values still beside.
    assert rows.loc["ring8", "PacGAN3_seeds"] == 0 and rows.loc["ring8", "PacGAN3_modes_covered"] == "—"
    assert rows.loc["grid25", "GAN_modes_covered_paper"] == "17.3 ± 0.8"
    assert rows.loc["ring8", "PacGAN4_high_quality_fraction_paper"] == "95.9 ± 1.4"
    assert rows.loc["ring8", "GAN_reverse_kl_paper"] == "0.45 ± 0.09"
    assert rows.loc["grid25", "PacGAN4_reverse_kl_paper_mean"] == pytest.approx(0.04)
    assert math.isnan(rows.loc["ring8", "PacGAN3_modes_covered_mean"])


def test_paper_table_markdown_layout_and_notes(study):
    _, out = study
    text = (out / "paper_pacgan_table1.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| dataset"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:5] == ["dataset", "GAN seeds", "GAN modes", "GAN modes (paper)", "GAN high-quality samples (%)"]
    assert cells[-1] == "PacGAN4 reverse KL (paper)" and len(cells) == 1 + 4 * (1 + 2 * 3)
    assert "Our trials ended at step 2,000 (6 scored of 8 trials)" in text  # the failed and running ones
    assert "G's batch norm in our evaluations: running" in text
    assert "mean ± std over 10 runs" in text
    assert "[paper_pacgan_table1.md]" in (out / "index.md").read_text()


def test_source_of_presets(tmp_path):
    assert source_of(["gin_configs/presets/pacgan_ring.gin", "extra.gin"]) == "pacgan_table1"
    assert source_of([str(tmp_path / "gin_configs/presets/pacgan_stacked_mnist.gin")]) == "pacgan_table2"
    assert source_of(["gin_configs/presets/ring8_mlp.gin"]) is None and source_of(None) is None


def test_at_step_reads_each_trial_as_it_stood_then(tmp_path):
    """--at_step N: only the evaluations at or before step N count (`_scored_trials` says which they are)."""
    root = tmp_path / "results"
    _scored_trials(root)
    _trial(root, "late", "ring8", 1, 7, [(8, 1.0, 0.0)])  # its only evaluation is at step 2,000
    for at_step in (1000, 1999):
        out = tmp_path / f"report_{at_step}"
        report_main([str(root)], str(out), n_boot=10, at_step=at_step)
        rows = pd.read_csv(out / "paper_pacgan_table1.csv").set_index("dataset")
        assert rows.loc["ring8", "GAN_seeds"] == 2  # "late" has no evaluation by then
        assert rows.loc["ring8", "GAN_modes_covered"] == "1.0 ± 0.0"
        assert rows.loc["ring8", "PacGAN2_high_quality_fraction"] == "10.0 ± 0.0"
        assert rows.loc["ring8", "PacGAN2_reverse_kl"] == "2.00 ± 0.00"  # the step-2,000 inf is not yet there
        assert rows.loc["grid25", "PacGAN4_modes_covered"] == "1.0 (1 seed)"
        text = (out / "paper_pacgan_table1.md").read_text()
        assert (f"Our trials as they stood at step {at_step:,} (--at_step): scores from step 1,000 "
                f"(6 scored of 7 trials; 1 finished without an evaluation by then).") in text
        assert f"Every trial as it stood at step {at_step:,} (--at_step)" in (out / "index.md").read_text()
    # At the last evaluation's step the table is the one without --at_step.
    for name, at_step in (("at_end", 2000), ("plain", None)):
        report_main([str(root)], str(tmp_path / name), n_boot=10, at_step=at_step)
    at_end = pd.read_csv(tmp_path / "at_end" / "paper_pacgan_table1.csv")
    plain = pd.read_csv(tmp_path / "plain" / "paper_pacgan_table1.csv")
    pd.testing.assert_frame_equal(at_end, plain)
    assert rows.loc["ring8", "GAN_modes_covered"] != plain.set_index("dataset").loc["ring8", "GAN_modes_covered"]


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_at_step_refused_before_anything_is_written(tmp_path, bad):
    root = tmp_path / "results"
    _trial(root, "t0", "ring8", 1, 0, [(8, 1.0, 0.0)])
    with pytest.raises(ValueError, match="at_step"):
        report_main([str(root)], str(tmp_path / "out"), at_step=bad)
    assert not (tmp_path / "out").exists()
