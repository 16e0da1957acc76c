"""Study reports as a reader sees them: model names, the index sentence, LaTeX that compiles, figures.

Oracles: the paper names (Lucic et al. 2018 Table 1, PacGAN, Kurach et al. 2019), numbers recomputed here with
numpy, a LaTeX scanner written here (and pdflatex itself when it is installed), pixels of the written PNGs.
"""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from gan_bench.outputs import save_samples_png
from gan_bench.report import latex_escape, load_results, model_labels, model_name, report_main
from gan_bench.report.metric_groups import FID, MODES_2D
from gan_bench.report.summaries import Summary, cell, column_decimals
from report_study import MODES_STUDY, make_trial, write_modes_study

PAPER_NAMES = [
    ("minimax", "none", 1, "MM GAN"), ("non_saturating", "none", 1, "NS GAN"),
    ("least_squares", "none", 1, "LSGAN"), ("wasserstein", "weight_clipping", 1, "WGAN"),
    ("wasserstein", "wgan_gp", 1, "WGAN-GP"), ("non_saturating", "dragan", 1, "DRAGAN"),
    ("hinge", "none", 1, "hinge GAN"), ("relativistic_average", "none", 1, "RaGAN"),
    ("non_saturating", "r1", 1, "NS GAN + R1"), ("non_saturating", "wgan_gp", 1, "NS GAN + GP"),
    ("least_squares", "r2", 1, "LSGAN + R2"), ("wasserstein", "none", 1, "WGAN (unconstrained critic)"),
    ("non_saturating", "none", 2, "PacGAN2"), ("non_saturating", "none", 3, "PacGAN3"),
    ("wasserstein", "wgan_gp", 2, "WGAN-GP + PacGAN2"), ("my_loss", "my_penalty", 1, "my_loss + my_penalty"),
]


@pytest.mark.parametrize("loss,penalty,pack,name", PAPER_NAMES)
def test_model_name_uses_paper_names(loss, penalty, pack, name):
    assert model_name(loss, penalty, pack) == name


def test_model_keys_shown_only_when_they_vary_within_a_dataset(tmp_path):
    make_trial(tmp_path, "a", {"trial.dataset": "ring8", "trial.architecture": "mlp"}, 0)
    make_trial(tmp_path, "b", {"trial.dataset": "mnist", "trial.architecture": "dcgan"}, 0)
    df = load_results([str(tmp_path)])
    assert list(df["model"]) == ["NS GAN", "NS GAN"]  # architecture differs only between datasets
    make_trial(tmp_path, "c", {"trial.dataset": "mnist", "trial.architecture": "resnet_cifar",
                               "trial.d_norm": "spectral"}, 0)
    df = load_results([str(tmp_path)]).set_index("id")
    assert df.loc["b", "model"] == "NS GAN (DCGAN, D no norm)" and df.loc["c", "model"] == "NS GAN (ResNet, D SN)"
    assert model_labels(df.reset_index(), exclude=("d_norm",))[2] == "NS GAN (ResNet)"


def _pooled(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))


REAL_HQ = 1 - np.exp(-4.5)  # P(|N(0, I2)| <= 3): share of real samples within 3 std of their mode


def test_index_opens_with_one_honest_sentence(tmp_path):
    out = tmp_path / "out"
    report_main([str(write_modes_study(tmp_path / "results"))], str(out), n_boot=100)
    lines = (out / "index.md").read_text().splitlines()
    sentence = lines[2]
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
    modes = {key: [s[0] for s in seeds] for key, seeds in MODES_STUDY.items()}
    hq = {key: [s[1] for s in seeds] for key, seeds in MODES_STUDY.items()}
    for dataset, capacity in (("ring8", 8), ("grid25", 25)):
        means = {m: np.mean(v) for (d, m), v in modes.items() if d == dataset}
        ranked = sorted(means, key=lambda m: (-means[m], -np.mean(hq[(dataset, m)])))
        best, second = ranked[0], ranked[1]
        b = np.array(modes[(dataset, best)], float)
        h = 100 * np.array(hq[(dataset, best)])
        # Decimals of the table columns (see test_report.HQ_DECIMALS: 0 for high-quality %; modes covered 1).
        assert (f"on {dataset}, {best} covers {b.mean():.1f} ± {b.std(ddof=1):.1f} of {capacity} modes with "
                f"{h.mean():.0f} ± {h.std(ddof=1):.0f} % high-quality samples").lower() in sentence.lower()
        s = np.array(modes[(dataset, second)], float)
        assert f"{s.mean():.1f} ± {s.std(ddof=1):.1f} for {second}" in sentence
        gap, pooled = abs(b.mean() - s.mean()), _pooled(b, s)
        clause = sentence[sentence.lower().index(f"on {dataset}"):]
        lead = f"the gap to {second}, {gap:.1f}, is"
        if gap <= pooled:
            assert f"{lead} within seed noise: pooled std {pooled:.1f}" in clause.split(";")[1]
        else:
            assert f"{lead} {gap / pooled:.1f} pooled std" in clause
        assert "3 seeds each" in clause
    # The diffuse-generator caveat once, at the end, for exactly the rows whose mean high-quality fraction is under
    # half the real data's: here grid25's NS GAN + R1 (30 %).
    flagged = [(m, d) for (d, m), v in hq.items() if np.mean(v) < REAL_HQ / 2]
    assert flagged == [("NS GAN + R1", "grid25")]
    assert sentence.endswith(f"; the samples of NS GAN + R1 on grid25 are still mostly off the modes (high-quality ≤ "
                             f"{100 * np.mean(hq[('grid25', 'NS GAN + R1')]):.0f} % vs {100 * REAL_HQ:.1f} % for "
                             f"real data).")
    assert sentence.count("mostly off the modes") == 1


def test_sentence_pools_unequal_seed_counts(tmp_path):
    f1s = {"NS GAN": [0.50, 0.58, 0.61], "LSGAN": [0.40, 0.52]}  # 3 and 2 seeds: pooled std weights by dof
    for model, loss in (("NS GAN", "non_saturating"), ("LSGAN", "least_squares")):
        for seed, value in enumerate(f1s[model]):
            make_trial(tmp_path / "r", f"{loss}{seed}", {"trial.dataset": "polygons", "trial.loss": loss}, seed,
                       metrics=("polygon_prf",), evals=[{"polygon_precision": value, "polygon_recall": value,
                                                         "polygon_f1": value}])
    out = tmp_path / "out"
    report_main([str(tmp_path / "r")], str(out), n_boot=50)
    sentence = (out / "index.md").read_text().splitlines()[2]
    a, b = np.array(f1s["NS GAN"]), np.array(f1s["LSGAN"])
    gap, pooled = a.mean() - b.mean(), _pooled(a, b)
    assert gap > pooled  # the numbers are chosen so that the gap exceeds one pooled std
    # F1 stds 0.057 and 0.085: the smallest needs 2 decimals for one significant digit, so every F1 number has 2.
    assert sentence == ("On polygons, NS GAN has the best F1 (0.56 ± 0.06) vs 0.46 ± 0.08 for LSGAN (2–3 seeds per "
                        f"model; the gap to LSGAN, 0.10, is {gap / pooled:.1f} pooled std).")
    assert (a.mean(), a.std(ddof=1), b.mean(), b.std(ddof=1)) == pytest.approx((0.563, 0.0569, 0.46, 0.0849),
                                                                               abs=5e-4)


def test_column_decimals_of_given_numbers():
    nan = float("nan")
    hq, kl = MODES_2D.metric("high_quality_fraction"), MODES_2D.metric("reverse_kl")
    # (mean, std) over 3 seeds, as a 2-D mixture study gives them; the expected text is written by hand.
    hq_sums = [Summary(3, 0, 0.0299, 0.00582), Summary(3, 0, 0.129, 0.041), Summary(3, 0, 0.474, 0.0577)]
    decimals = column_decimals(hq_sums, hq)
    assert [cell(s, hq, decimals=decimals) for s in hq_sums] == ["3.0 ± 0.6", "12.9 ± 4.1", "47.4 ± 5.8"]
    kl_sums = [Summary(3, 0, 0.171, 0.0634), Summary(3, 0, 0.926, 0.0807), Summary(3, 2, 2.08, nan)]
    decimals = column_decimals(kl_sums, kl)
    assert [cell(s, kl, decimals=decimals) for s in kl_sums] == ["0.17 ± 0.06", "0.93 ± 0.08",
                                                                 "∞ in 2 of 3 seeds (others 2.08 (1 seed))"]
    # One tight row: every std keeps a significant digit, so the whole column gets its decimals.
    fid = FID.metric("fid")
    sums = [Summary(3, 0, 25.31, 4.1), Summary(3, 0, 40.2, 0.004)]
    assert [cell(s, fid, decimals=column_decimals(sums, fid)) for s in sums] == ["25.310 ± 4.100", "40.200 ± 0.004"]
    # No spread at all (one seed each): three significant digits of the smallest mean.
    sums = [Summary(1, 0, 45.31, nan), Summary(1, 0, 120.66, nan)]
    assert [cell(s, fid, decimals=column_decimals(sums, fid)) for s in sums] == ["45.3 (1 seed)", "120.7 (1 seed)"]
    # Mode counts have one decimal by definition, whatever the spread.
    modes = MODES_2D.metric("modes_covered")
    sums = [Summary(3, 0, 19.6667, 2.0817), Summary(3, 0, 8.0, 0.0)]
    assert [cell(s, modes, 25, column_decimals(sums, modes)) for s in sums] == ["19.7 ± 2.1 of 25", "8.0 ± 0.0 of 25"]


def test_every_number_of_a_column_has_the_same_decimals(tmp_path):
    out = tmp_path / "out"
    report_main([str(write_modes_study(tmp_path / "results"))], str(out), n_boot=50)
    lines = [line for line in (out / "modes_2d.md").read_text().splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    for label in ("modes covered", "high-quality (%)", "reverse KL"):
        column = header.index(label)
        numbers = []
        for row in rows:
            text = row[column]
            if text.startswith("∞ in"):  # '∞ in 1 of 3 seeds (others 0.33 ± 0.04)': the finite seeds' numbers
                text = text[text.index("(others ") + len("(others "):-1]
            numbers += re.findall(r"\d+(?:\.\d+)?", text.split(" of ")[0].replace(" (1 seed)", ""))
        assert len(numbers) >= 2 * len(rows) - 1, (label, numbers)
        assert len({len(n.partition(".")[2]) for n in numbers}) == 1, (label, numbers)


def test_sentence_and_notes_on_all_zero_polygon_scores(tmp_path):
    for seed in range(2):
        make_trial(tmp_path / "r", f"p{seed}", {"trial.dataset": "polygons", "trial.train_steps": 600}, seed,
                   metrics=("polygon_prf",),
                   evals=[{"polygon_precision": 0.0, "polygon_recall": 0.0, "polygon_f1": 0.0}])
    out = tmp_path / "out"
    written = report_main([str(tmp_path / "r")], str(out), n_boot=50)
    sentence = (out / "index.md").read_text().splitlines()[2]
    assert sentence.startswith("On polygons, every model scores F1 = 0 (no generated image lies within δ")
    table = (out / "polygon_prf.md").read_text()
    assert "precision, recall, F1 are 0 in all 2 finished trials" in table and "trained 600 steps" in table
    assert "polygon_prf_scores.png" not in written  # an all-zero plot is not drawn; the index says why
    assert "polygon_prf_scores.png: not drawn (every scored trial has F1 = 0)" in (out / "index.md").read_text()


def test_diffuse_generator_caveat_in_table_and_sentence(tmp_path):
    # A generator spraying points everywhere "covers" all 8 modes with 0.5 % high-quality samples.
    for seed, (modes, hq) in enumerate([(8.0, 0.005), (8.0, 0.004)]):
        make_trial(tmp_path / "r", f"w{seed}", {"trial.dataset": "ring8", "trial.loss": "wasserstein"}, seed,
                   metrics=("modes_2d",), evals=[{"modes_covered": modes, "high_quality_fraction": hq,
                                                  "reverse_kl": 0.2}])
    for seed, (modes, hq) in enumerate([(6.0, 0.95), (7.0, 0.97)]):
        make_trial(tmp_path / "r", f"n{seed}", {"trial.dataset": "ring8"}, seed, metrics=("modes_2d",),
                   evals=[{"modes_covered": modes, "high_quality_fraction": hq, "reverse_kl": 0.3}])
    out = tmp_path / "out"
    report_main([str(tmp_path / "r")], str(out), n_boot=50)
    sentence = (out / "index.md").read_text().splitlines()[2]
    # The high-quality column has 2 decimals: its smallest std is 0.07 percentage points (the other 1.41).
    assert "WGAN (unconstrained critic) covers 8.0 ± 0.0 of 8 modes with 0.45 ± 0.07 % high-quality samples" in sentence
    assert "vs 6.5 ± 0.7 for NS GAN" in sentence
    # Said once at the end, naming the one model it concerns.
    assert sentence.endswith(f"; the samples of WGAN (unconstrained critic) are still mostly off the modes "
                             f"(high-quality ≤ 0.45 % vs {100 * REAL_HQ:.1f} % for real data).")
    assert "96.00 ± 1.41" in (out / "modes_2d.md").read_text()
    table = (out / "modes_2d.md").read_text()
    row = next(line for line in table.splitlines() if "WGAN (unconstrained critic)" in line)
    assert f"samples mostly off the modes (high-quality < half of real data's {100 * REAL_HQ:.1f} %)" in row


SPECIALS = set("&%$#_{}~^\\")


def unescaped_specials(tex: str):
    """LaTeX specials in `tex` that are not escaped, not part of a command and not table syntax.

    Allowed: `\\command` (letters), `\\<special>` escapes, braces that delimit a command's argument, `$...$`
    math around a command, `&` column separators (as many per row as the header has), `\\\\` row ends and `%`
    at the start of a comment line.
    """
    bad = []
    columns = None
    for line in tex.splitlines():
        if line.startswith("%"):
            continue
        if line.startswith("\\begin{tabular}"):
            columns = len(re.findall(r"[lrc]|p\{[^}]*\}", line[len("\\begin{tabular}"):]))
            continue
        body = line[:-2] if line.endswith("\\\\") else line
        if columns and line.endswith("\\\\"):
            cells = re.split(r"(?<!\\)&", body)
            if len(cells) != columns:
                bad.append(("columns", line))
            body = " ".join(cells)
        body = re.sub(r"\$\\[a-zA-Z]+\$", "", body)  # $\pm$, $\infty$, $\delta$
        body = re.sub(r"\\[&%$#_{}]", "", body)  # escaped specials
        body = re.sub(r"\\text(backslash|asciitilde|asciicircum|dagger)\{\}", "", body)
        body = re.sub(r"\\(begin|end|caption|label|footnotesize|smallskip|par|centering|toprule|midrule|"
                      r"bottomrule)\b", "", body)
        depth = 0
        for ch in body:  # what is left: braces of command arguments must balance; no other special may remain
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if ch in SPECIALS - {"{", "}"} or depth < 0:
                bad.append((ch, line))
        if depth:
            bad.append(("braces", line))
    return bad


def test_latex_escape_round_trip():
    text = "a_b 50% & #1 $x$ {y} ~z^2 back\\slash ± ∞ — δ"
    escaped = latex_escape(text)
    assert escaped == (r"a\_b 50\% \& \#1 \$x\$ \{y\} \textasciitilde{}z\textasciicircum{}2 "
                       r"back\textbackslash{}slash $\pm$ $\infty$ --- $\delta$")
    assert not unescaped_specials(escaped)
    assert unescaped_specials("a_b") and unescaped_specials("50%")


def test_report_latex_has_no_unescaped_specials_and_compiles(tmp_path):
    root = write_modes_study(tmp_path / "results")
    # A model and a configuration value full of specials, and an error text with a backslash and underscores.
    make_trial(root, "odd", {"trial.dataset": "ring8", "trial.loss": "my_loss&co", "trial.g_lr": 0.001}, 0,
               state="failed", metrics=("modes_2d",), error="ValueError: C:\\tmp\\x_y 100% {bad} #3 ~ ^")
    out = tmp_path / "out"
    written = report_main([str(root)], str(out), n_boot=50)
    texs = sorted(name for name in written if name.endswith(".tex"))
    assert texs
    for name in texs:
        tex = (out / name).read_text()
        assert not unescaped_specials(tex), (name, unescaped_specials(tex))
        assert "my\\_loss\\&co" in tex or name not in ("modes_2d.tex", "failures.tex")
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: the escaping scan above is the check")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   + "".join(f"\\input{{{out / name}}}\n" for name in texs) + "\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:]


def _pixels(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB")).astype(int)


def test_figures_are_written_and_not_blank(tmp_path):
    out = tmp_path / "out"
    written = report_main([str(write_modes_study(tmp_path / "results"))], str(out), n_boot=100)
    for name in ("modes_2d_scores.png", "modes_2d_budget.png", "modes_2d_tradeoff.png"):
        picture = _pixels(written[name])
        assert picture.shape[0] > 200 and picture.shape[1] > 200
        assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 20  # drawn, not an empty canvas


def test_sample_scatter_shows_real_points_over_generated(tmp_path):
    rng = np.random.default_rng(0)
    real = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
    real = np.repeat(real, 50, axis=0) + 0.01 * rng.standard_normal((400, 2))
    fake = real + 0.001 * rng.standard_normal(real.shape)  # generated exactly on top of the real points
    path = tmp_path / "abc" / "samples" / "step_0001500.png"
    picture = save_samples_png(str(path), fake, real)
    assert np.array_equal(_pixels(path), picture)
    assert (picture.sum(axis=-1) < 150).any()  # dark real markers stay visible over the generated points
    # written atomically, nothing left over; the points themselves beside the picture
    assert sorted(os.listdir(path.parent)) == ["step_0001500.npz", "step_0001500.png"]
    np.testing.assert_array_equal(np.load(path.with_suffix(".npz"))["generated"], fake.astype(np.float32))
    images = save_samples_png(str(tmp_path / "grid.png"), rng.uniform(-1, 1, (10, 8, 8, 1)))
    assert images.shape == (16, 64, 1)


def test_sample_scatter_title_names_trial_and_step(tmp_path):
    from gan_bench.outputs import _title_from_path  # pylint: disable=import-outside-toplevel
    assert _title_from_path(str(tmp_path / "abc" / "samples" / "step_0001500.png")) == "trial abc, step 1,500"
