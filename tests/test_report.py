"""Study reports: loading, metric tables, failures. Every expected number is computed here (statistics / numpy)
from the values the test writes into trial folders."""
import dataclasses
import json
import math
import os
import statistics

import gin
import numpy as np
import pandas as pd
import pytest

from gan_bench import cli
from gan_bench.report import (expected_best_of_k, failure_table, kurach_table, load_results, metric_table,
                              report_main)
from gan_bench.report.load import parse_gin_values
from gan_bench.report.metric_groups import FID, MODES_2D, PRECISION_RECALL, groups_for
from report_study import BOOKKEEPING, MODES_STUDY, make_trial, write_modes_study

# Hand-made image study: dataset → model → configuration (g_lr) → per-seed final FIDs.
NS = {"trial.loss": "non_saturating", "trial.penalty": "none"}
GP = {"trial.loss": "wasserstein", "trial.penalty": "wgan_gp"}
STUDY = {
    ("mnist", "NS GAN", 1e-4): [30.0, 32.0, 34.5],
    ("mnist", "NS GAN", 2e-4): [20.0, 26.0, 29.0],
    ("mnist", "WGAN-GP", 1e-4): [25.0, 25.5],
    ("mnist", "WGAN-GP", 2e-4): [40.0, 41.0, 45.0],
    ("cifar10", "NS GAN", 1e-4): [60.0, 58.0],
    ("cifar10", "NS GAN", 2e-4): [55.0, 70.0],
}
PR = {"NS GAN": (0.8, 0.6), "WGAN-GP": (0.7, 0.75)}  # precision, recall base values


def f1(p, r):
    return 2 * p * r / (p + r)


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "results"
    n = 0
    for (dataset, model, lr), fids in STUDY.items():
        base = NS if model == "NS GAN" else GP
        for seed, fid in enumerate(fids):
            p, r = PR[model][0] - 0.01 * seed, PR[model][1] + 0.02 * seed
            evals = [{"fid": fid + 50.0, "is_mean": 1.0}, {"fid": fid, "is_mean": 2.0 + seed,
                                                           "precision": p, "recall": r, "f1": f1(p, r)}]
            make_trial(root, f"t{n:03d}", {**base, "trial.g_lr": lr, **BOOKKEEPING}, seed, evals=evals,
                       config={"dataset": dataset})
            n += 1
    # Not scored: a failed trial with an excellent FID, a diverged one with FID inf, a pending one.
    make_trial(root, "failed1", {**NS, "trial.g_lr": 1e-4, **BOOKKEEPING}, 7, state="failed",
               evals=[{"fid": 1.0}], config={"dataset": "mnist"}, error="ValueError: out of memory")
    make_trial(root, "diverged1", {**NS, "trial.g_lr": 2e-4, **BOOKKEEPING}, 8, state="diverged",
               evals=[{"fid": 90.0}, {"fid": "inf"}], config={"dataset": "mnist"})
    make_trial(root, "pending1", {**GP, "trial.g_lr": 1e-4, **BOOKKEEPING}, 9, state="pending",
               config={"dataset": "mnist"})
    return root


def test_model_column_from_config_gin_and_defaults(tmp_path):
    make_trial(tmp_path, "a", {}, 0, config={"loss": "least_squares"})  # loss only in config.gin
    make_trial(tmp_path, "b", {}, 0)  # TrialConfig defaults: non_saturating + none, pack 1
    make_trial(tmp_path, "c", {"trial.loss": "wasserstein", "trial.penalty": "weight_clipping"}, 0)
    make_trial(tmp_path, "d", {"trial.pack": 3}, 0)
    df = load_results([str(tmp_path)]).set_index("id")
    assert df.loc["a", "model"] == "LSGAN" and df.loc["b", "model"] == "NS GAN" and df.loc["c", "model"] == "WGAN"
    assert df.loc["d", "model"] == "PacGAN3"


def test_parse_gin_values_matches_gin():
    @gin.configurable("report_probe")
    @dataclasses.dataclass
    class Probe:  # pylint: disable=unused-variable
        names: tuple = ()
        rate: float = 0.0
        label: str = ""
        flag: bool = False

    gin.clear_config()
    bound = {"names": ["a" * 30, "b" * 30, "c" * 30], "rate": 3e-4, "label": "x y", "flag": True}
    gin.parse_config([f"report_probe.{k} = {v!r}" for k, v in bound.items()])
    text = gin.config_str()
    gin.clear_config()
    assert "\\" in text  # gin wrapped the long list over lines
    assert parse_gin_values(text) == {f"report_probe.{k}": v for k, v in bound.items()}


def test_load_results_final_best_state(study):
    df = load_results([str(study)]).set_index("id")
    assert len(df) == sum(map(len, STUDY.values())) + 3
    row = df.loc["t000"]  # first seed of mnist NS GAN 1e-4: evals fid 80 then 30, is 1 then 2
    assert row["final_fid"] == 30.0 and row["best_fid"] == 30.0 and row["best_is_mean"] == 2.0
    assert row["dataset"] == "mnist" and row["g_lr"] == 1e-4 and row["seed"] == 0 and row["state"] == "done"
    assert row["metrics"] == json.dumps(["fid", "precision"])
    assert df.loc["diverged1", "final_fid"] == math.inf and df.loc["diverged1", "best_fid"] == 90.0
    assert df.loc["diverged1", "state"] == "diverged" and df.loc["pending1", "state"] == "running"
    # Seeds of one configuration share config_id; different g_lr do not.
    assert df.loc["t000", "config_id"] == df.loc["t001", "config_id"] != df.loc["t003", "config_id"]


def expected_best(metric_values, dataset, model, lower=True):
    """(g_lr, mean, stdev) of the best configuration, from the STUDY dict with the statistics module."""
    means = {lr: statistics.mean(v) for (d, m, lr), v in metric_values.items() if d == dataset and m == model}
    lr = (min if lower else max)(means, key=means.get)
    vals = metric_values[(dataset, model, lr)]
    return lr, statistics.mean(vals), statistics.stdev(vals)


# Decimals of the FID column, by hand: its rows' stds (best configurations: mnist NS GAN 2e-4 4.58, mnist WGAN-GP
# 1e-4 0.35, cifar10 NS GAN 1e-4 1.41); the smallest, 0.35, needs 1 decimal for one significant digit.
FID_DECIMALS = 1


def test_fid_table_best_configuration_mean_std(study):
    df = load_results([str(study)])
    table = metric_table(df, FID)
    rows = table.frame.set_index(["dataset", "model"])
    assert len(rows) == 3
    # Configuration columns: only g_lr varies among the trials; no bookkeeping, no seed.
    assert "g_lr" in table.shown
    assert not set(table.shown) & {"seed", "ckpt_every", "log_every", "eval_num_samples", "keep_ckpts", "config"}
    unscored = {("mnist", "NS GAN", 1e-4), ("mnist", "NS GAN", 2e-4), ("mnist", "WGAN-GP", 1e-4)}
    for (dataset, model), row in rows.iterrows():
        lr, mean, std = expected_best(STUDY, dataset, model)
        assert row["g_lr"] == lr
        assert row["seeds"] == len(STUDY[(dataset, model, lr)])
        assert row["trials"] == row["seeds"] + ((dataset, model, lr) in unscored)  # + its failed/diverged/pending
        assert row["fid_mean"] == pytest.approx(mean, rel=1e-12) and row["fid_std"] == pytest.approx(std, rel=1e-12)
        assert row["FID"] == f"{mean:.{FID_DECIMALS}f} ± {std:.{FID_DECIMALS}f}"
        # IS of the same configuration beside it: final is_mean = 2 + seed.
        is_values = [2.0 + s for s in range(len(STUDY[(dataset, model, lr)]))]
        assert row["is_mean_mean"] == pytest.approx(statistics.mean(is_values))
        assert row["KID"] == "—"  # never computed
    stds = sorted(statistics.stdev(STUDY[(d, m, expected_best(STUDY, d, m)[0])]) for d, m in rows.index)
    assert stds[0] == pytest.approx(0.5 / 2 ** 0.5)  # the smallest std the decimals above were derived from
    # Ranked by mean FID within each dataset (lower is better).
    mnist = table.frame[table.frame["dataset"] == "mnist"]
    assert list(mnist["fid_mean"]) == sorted(mnist["fid_mean"])


def test_best_over_evaluations(study):
    rows = metric_table(load_results([str(study)]), FID, which="best").frame.set_index(["dataset", "model"])
    # Each trial's best FID equals its final FID (the earlier eval is +50), except the diverged trial, whose
    # best (90) now joins its configuration: mnist NS GAN 2e-4 becomes [20, 26, 29, 90].
    per_lr = {1e-4: statistics.mean(STUDY[("mnist", "NS GAN", 1e-4)]),
              2e-4: statistics.mean(STUDY[("mnist", "NS GAN", 2e-4)] + [90.0])}
    assert rows.loc[("mnist", "NS GAN"), "fid_mean"] == pytest.approx(min(per_lr.values()))


def test_precision_recall_table_selects_by_f1(study):
    rows = metric_table(load_results([str(study)]), PRECISION_RECALL).frame.set_index(["dataset", "model"])
    for dataset, model in [("mnist", "NS GAN"), ("mnist", "WGAN-GP")]:
        p0, r0 = PR[model]
        f1s = {lr: [f1(p0 - 0.01 * s, r0 + 0.02 * s) for s in range(len(v))]
               for (d, m, lr), v in STUDY.items() if d == dataset and m == model}
        lr = max(f1s, key=lambda x: statistics.mean(f1s[x]))
        precisions = [p0 - 0.01 * s for s in range(len(f1s[lr]))]
        assert rows.loc[(dataset, model), "precision_mean"] == pytest.approx(statistics.mean(precisions))
        assert rows.loc[(dataset, model), "f1_mean"] == pytest.approx(statistics.mean(f1s[lr]))
        assert rows.loc[(dataset, model), "f1_std"] == pytest.approx(statistics.stdev(f1s[lr]))
        assert rows.loc[(dataset, model), "seeds"] == len(f1s[lr])


# Decimals of the modes study's columns, by hand from MODES_STUDY: the smallest high-quality std is 1.5 % (ring8
# PacGAN2) → 0 decimals for one significant digit; the smallest finite reverse-KL std is 0.010 (ring8 PacGAN2)
# → 2 decimals; modes covered has 1 decimal by definition.
HQ_DECIMALS, KL_DECIMALS = 0, 2


def test_modes_table_numbers_and_infinite_reverse_kl(tmp_path):
    df = load_results([str(write_modes_study(tmp_path))])
    table = metric_table(df, MODES_2D)
    rows = table.frame.set_index(["dataset", "model"])
    assert set(rows.index) == set(MODES_STUDY)
    assert "eval_every" not in table.shown and "pack" not in table.shown  # bookkeeping; pack is in the name
    capacity = {"ring8": 8, "grid25": 25}
    for (dataset, model), seeds in MODES_STUDY.items():
        row = rows.loc[(dataset, model)]
        modes = np.array([s[0] for s in seeds], float)
        hq = np.array([s[1] for s in seeds])
        assert row["seeds"] == 3 and row["trials"] == 3  # eval_every differs per seed: still one configuration
        assert row["modes_covered_mean"] == pytest.approx(modes.mean())
        assert row["modes_covered_std"] == pytest.approx(modes.std(ddof=1))
        assert row["modes covered"] == f"{modes.mean():.1f} ± {modes.std(ddof=1):.1f} of {capacity[dataset]}"
        assert row["high_quality_fraction_mean"] == pytest.approx(hq.mean())
        assert row["high-quality (%)"] == f"{100 * hq.mean():.{HQ_DECIMALS}f} ± {100 * hq.std(ddof=1):.{HQ_DECIMALS}f}"
        kl = [s[2] for s in seeds]
        finite = np.array([k for k in kl if k != "inf"], float)
        assert row["reverse_kl_inf"] == len(kl) - len(finite)
        assert row["reverse_kl_mean"] == pytest.approx(finite.mean())
        if len(finite) < len(kl):  # the ∞ seed is counted, shown, and kept out of the finite mean
            assert row["reverse KL"] == (f"∞ in 1 of 3 seeds (others {finite.mean():.{KL_DECIMALS}f} ± "
                                         f"{finite.std(ddof=1):.{KL_DECIMALS}f})")
        else:
            assert row["reverse KL"] == f"{finite.mean():.{KL_DECIMALS}f} ± {finite.std(ddof=1):.{KL_DECIMALS}f}"
    hq_stds = [100 * np.std([s[1] for s in seeds], ddof=1) for seeds in MODES_STUDY.values()]
    kl_stds = [np.std([s[2] for s in seeds if s[2] != "inf"], ddof=1) for seeds in MODES_STUDY.values()]
    assert min(hq_stds) == pytest.approx(1.53, abs=0.01) and min(kl_stds) == pytest.approx(0.010, abs=1e-6)
    # Best first within each dataset: by mean modes covered.
    for dataset in capacity:
        part = table.frame[table.frame["dataset"] == dataset]
        assert list(part["modes_covered_mean"]) == sorted(part["modes_covered_mean"], reverse=True)
    # The ∞ and the 0-mode seed get reasons in the notes.
    text = " ".join(table.notes)
    assert "∞ (reverse KL): 1 of 18 finished trials" in text and "no generated sample is high-quality" in text


def test_all_infinite_reverse_kl_is_a_bare_infinity(tmp_path):
    for seed in range(2):
        make_trial(tmp_path, f"x{seed}", {"trial.dataset": "ring8"}, seed, metrics=("modes_2d",),
                   evals=[{"modes_covered": 0.0, "high_quality_fraction": 0.0, "reverse_kl": "inf"}])
    table = metric_table(load_results([str(tmp_path)]), MODES_2D)
    row = table.frame.iloc[0]
    assert row["reverse KL"] == "∞" and row["reverse_kl_inf"] == 2 and row["seeds"] == 2
    assert row["modes covered"] == "0.0 ± 0.0 of 8"
    text = " ".join(table.notes)
    assert "ring8: modes covered, high-quality (%) are 0 in all 2 finished trials" in text


def test_empty_rows_say_why(tmp_path):
    ok = {"trial.dataset": "ring8"}
    make_trial(tmp_path, "done", ok, 0, metrics=("modes_2d",),
               evals=[{"modes_covered": 8.0, "high_quality_fraction": 0.9, "reverse_kl": 0.1}])
    make_trial(tmp_path, "f0", {**ok, "trial.penalty": "r1"}, 0, state="failed", metrics=("modes_2d",),
               error="ValueError: trial.batch_size = 7 is not divisible by trial.pack = 2")
    make_trial(tmp_path, "r0", {**ok, "trial.penalty": "r1"}, 1, state="running", metrics=("modes_2d",))
    make_trial(tmp_path, "d0", {**ok, "trial.loss": "hinge"}, 0, state="diverged", metrics=("modes_2d",),
               evals=[{"modes_covered": "nan", "high_quality_fraction": "nan", "reverse_kl": "nan"}])
    frame = metric_table(load_results([str(tmp_path)]), MODES_2D).frame.set_index("model")
    r1 = frame.loc["NS GAN + R1"]
    assert r1["seeds"] == 0 and r1["trials"] == 2 and r1["modes covered"] == "—"
    assert "1 trial(s) not finished" in r1["note"] and "1 failed (ValueError: trial.batch_size" in r1["note"]
    assert "1 finished without a modes covered" in frame.loc["hinge GAN", "note"]
    assert frame.index[0] == "NS GAN"  # scored rows before empty ones


def test_failure_table_per_dataset(study):
    table = failure_table(load_results([str(study)]))
    rows = table.frame.set_index(["dataset", "model"])
    n_mnist_ns = sum(len(v) for (d, m, _), v in STUDY.items() if (d, m) == ("mnist", "NS GAN"))
    assert rows.loc[("mnist", "NS GAN"), "done"] == n_mnist_ns
    assert rows.loc[("mnist", "NS GAN"), "failed"] == 1 and rows.loc[("mnist", "NS GAN"), "diverged"] == 1
    assert rows.loc[("mnist", "NS GAN"), "total"] == n_mnist_ns + 2
    assert rows.loc[("cifar10", "NS GAN"), "total"] == sum(len(v) for (d, _, _), v in STUDY.items() if d == "cifar10")
    assert rows.loc[("mnist", "WGAN-GP"), "running"] == 1
    assert any("failed ×1 (e.g. trial failed1): ValueError: out of memory" in n for n in table.notes)


def test_kurach_table_cells(tmp_path):
    fids = {("NS GAN", "none"): [30.0, 35.0, 31.0], ("NS GAN", "spectral"): [20.0, 22.0],
            ("WGAN-GP", "none"): [40.0, 44.0], ("WGAN-GP", "spectral"): [25.0, 27.0, 26.5]}
    n = 0
    for (model, norm), values in fids.items():
        for seed, fid in enumerate(values):
            make_trial(tmp_path, f"k{n}", {**(NS if model == "NS GAN" else GP), "trial.d_norm": norm}, seed,
                       evals=[{"fid": fid}], config={"dataset": "cifar10"})
            n += 1
    df = load_results([str(tmp_path)])
    assert set(df["model"]) == {"NS GAN (D no norm)", "NS GAN (D SN)", "WGAN-GP (D no norm)", "WGAN-GP (D SN)"}
    best = kurach_table(df, "fid", agg="best").set_index(["dataset", "model"])
    median = kurach_table(df, "fid", agg="median").set_index(["dataset", "model"])
    for (model, norm), values in fids.items():
        assert best.loc[("cifar10", model), f"D norm: {norm}"] == min(values)
        assert median.loc[("cifar10", model), f"D norm: {norm}"] == pytest.approx(statistics.median(values))


@pytest.mark.parametrize("better", ["min", "max"])
def test_expected_best_of_k_matches_closed_form(better):
    values = np.random.default_rng(3).normal(30.0, 8.0, size=7)
    n, n_boot = values.size, 40000
    ordered = np.sort(values) if better == "min" else np.sort(values)[::-1]
    curve = expected_best_of_k(values, better, n_boot=n_boot, seed=1)
    for k in range(1, n + 1):
        # E[best of k distinct draws] = Σ_i v_(i) C(n-i, k-1) / C(n, k), v_(1) the best value.
        exact = sum(ordered[i - 1] * math.comb(n - i, k - 1) for i in range(1, n + 1)) / math.comb(n, k)
        tol = 4 * np.ptp(values) / 2 / math.sqrt(n_boot)  # 4 standard errors of a mean of bounded draws
        row = curve.iloc[k - 1]
        assert row["k"] == k and abs(row["mean"] - exact) < tol, (k, row["mean"], exact)
        assert row["lo"] - 1e-9 <= row["mean"] <= row["hi"] + 1e-9  # the mean of equal values may round
    assert curve["mean"].iloc[-1] == pytest.approx(ordered[0])  # all n trials: the best value, surely
    with pytest.raises(ValueError, match="finite"):
        expected_best_of_k([1.0, float("nan")])


def test_report_tables_hold_the_numbers(study, tmp_path):
    out = tmp_path / "report"
    written = report_main([str(study)], str(out), n_boot=200)
    assert {"fid.md", "precision_recall.md", "failures.md", "trials.csv", "index.md"} <= set(written)
    markdown, latex = (out / "fid.md").read_text(), (out / "fid.tex").read_text()
    csv = pd.read_csv(out / "fid.csv").set_index(["dataset", "model"])
    for dataset, model in [("mnist", "NS GAN"), ("mnist", "WGAN-GP"), ("cifar10", "NS GAN")]:
        _, mean, std = expected_best(STUDY, dataset, model)
        assert f"{mean:.{FID_DECIMALS}f} ± {std:.{FID_DECIMALS}f}" in markdown
        assert f"{mean:.{FID_DECIMALS}f} $\\pm$ {std:.{FID_DECIMALS}f}" in latex
        assert csv.loc[(dataset, model), "fid_mean"] == pytest.approx(mean)
        assert csv.loc[(dataset, model), "fid_std"] == pytest.approx(std)
    index = (out / "index.md").read_text()
    for name, path in written.items():
        assert os.path.isfile(path) and os.path.getsize(path) > 0
        assert name == "index.md" or f"]({name})" in index
    assert not [f for f in os.listdir(out) if f.startswith(".")]  # no temporary file left


def test_cli_report_without_metric_reports_every_metric(tmp_path):
    root = write_modes_study(tmp_path / "results")
    out = tmp_path / "out"
    assert cli.main(["report", str(root), "--out", str(out)]) == 0
    assert (out / "modes_2d.md").exists() and (out / "index.md").exists()
    # --metric chooses the ranking metric of its group: rows by high-quality fraction.
    assert cli.main(["report", str(root), "--out", str(out), "--metric", "high_quality_fraction"]) == 0
    frame = pd.read_csv(out / "modes_2d.csv")
    ring = frame[frame["dataset"] == "ring8"]
    assert list(ring["high_quality_fraction_mean"]) == sorted(ring["high_quality_fraction_mean"], reverse=True)


def test_training_logs_are_not_metrics():
    found = ["d_loss", "g_loss", "penalty", "d_real", "d_fake", "modes_covered", "my_score"]
    names = [g.name for g in groups_for(found)]
    assert names == ["modes_2d", "metric_my_score"]


def test_conditional_logs_are_not_metrics_and_intra_fid_has_its_table():
    from gan_bench.gan import auxiliary  # pylint: disable=import-outside-toplevel
    found = [*auxiliary.LOG_KEYS, "ortho", "intra_fid", "intra_fid_class_0", "intra_fid_class_7", "fid"]
    assert [g.name for g in groups_for(found)] == ["fid", "intra_fid"]
    assert [g.name for g in groups_for(found, rank_by=["intra_fid_class_7"])][-1] == "metric_intra_fid_class_7"


def test_bad_input_raises_clear_errors(tmp_path, study, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no trial folders"):
        report_main([str(tmp_path / "empty")], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="results folder not found"):
        load_results([str(tmp_path / "missing")])
    with pytest.raises(ValueError, match="--metric fdi: not in any trial's metrics.jsonl.*'fid'"):
        report_main([str(study)], str(tmp_path / "out"), metric="fdi")
    with pytest.raises(ValueError, match="which must be"):
        report_main([str(study)], str(tmp_path / "out"), which="last")
    assert not (tmp_path / "out").exists()
    assert cli.main(["report", str(study), "--out", str(tmp_path / "out"), "--metric", "fdi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fdi" in err[0]


def test_malformed_trial_files_are_reported_not_fatal(study, tmp_path):
    bad = {"badjson": ("trial.json", "{not json"), "badstatus": ("status.json", "[1, 2]"),
           "badmetrics": ("metrics.jsonl", '{"step": 1, "fid": 3.0}\n{"step": 2, "fi')}
    for tid, (name, text) in bad.items():
        folder = make_trial(study, tid, dict(NS), 0, evals=[{"fid": 2.0}], config={"dataset": "mnist"})
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    with pytest.warns(UserWarning) as record:
        df = load_results([str(study)]).set_index("id")
    messages = " ".join(str(w.message) for w in record)
    for tid, (name, _) in bad.items():
        assert os.path.join(str(study), tid, name) in messages
        assert df.loc[tid, "state"] == "failed" and name in df.loc[tid, "error"]
    with pytest.warns(UserWarning):
        written = report_main([str(study)], str(tmp_path / "out"), n_boot=50)
    table = pd.read_csv(written["failures.csv"]).set_index(["dataset", "model"])
    assert table.loc[("mnist", "NS GAN"), "failed"] == 1 + len(bad)


def test_status_is_read_by_its_owner(tmp_path, monkeypatch):
    """load.py reads status.json through outputs.read_status, the one owner of that file."""
    from gan_bench import outputs  # pylint: disable=import-outside-toplevel
    done = make_trial(tmp_path, "done", {}, 0, evals=[{"fid": 3.0}])
    bad = make_trial(tmp_path, "bad", {}, 1, evals=[{"fid": 3.0}])
    with open(os.path.join(bad, "status.json"), "w") as f:
        json.dump({"state": "running", "step": 5}, f)  # not a state status.json may record
    make_trial(tmp_path, "running", {}, 2, state="running", evals=[{"fid": 3.0}])
    with pytest.raises(ValueError) as expected:
        outputs.read_status(bad)
    calls = []
    real_reader = outputs.read_status
    monkeypatch.setattr(outputs, "read_status", lambda folder: calls.append(folder) or real_reader(folder))
    with pytest.warns(UserWarning, match="counted as failed"):
        df = load_results([str(tmp_path)]).set_index("id")
    assert sorted(calls) == sorted([done, bad, os.path.join(str(tmp_path), "running")])
    assert df.loc["bad", "state"] == "failed" and df.loc["bad", "error"] == str(expected.value)
    assert df.loc["done", "state"] == "done" and df.loc["running", "state"] == "running"
