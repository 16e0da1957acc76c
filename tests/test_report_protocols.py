"""Reports keep Inception-based scores of different protocols apart and say how each column was measured.

Oracles: protocol records built by hand (`report_study.protocol_record`) in synthetic results folders, the
differing fields and their values known from how the test built them, means recomputed with `statistics`.
"""
import json
import logging
import re
import statistics

import gin
import numpy as np
import pandas as pd
import pytest

from gan_bench import cli
from gan_bench.metrics import evaluate as ev
from gan_bench.report import load_results, report_main
from gan_bench.report.load import summarize_protocols
from report_study import BOOKKEEPING, image_evals, make_trial, protocol_record

NS = {"trial.loss": "non_saturating", "trial.penalty": "none", "trial.dataset": "mnist", **BOOKKEEPING}
GP = {"trial.loss": "wasserstein", "trial.penalty": "wgan_gp", "trial.dataset": "mnist", **BOOKKEEPING}
FIDS = {"a": [20.0, 24.0, 22.0], "b": [30.0, 36.0]}  # final FIDs per seed of NS GAN in folders a and b
IS = 2.5


def write_folder(root, name, changes=None, recorded=True, model=NS, fids=None, extra=None):
    """One results folder of NS GAN trials (one per FID of `fids`, default FIDS[name]) under one protocol."""
    folder = root / name
    for seed, fid in enumerate(fids or FIDS[name]):
        make_trial(folder, f"{name}{seed}", {**model, **(extra or {})}, seed,
                   evals=image_evals(fid, IS + seed, changes, recorded), metrics=("fid", "inception_score"))
    return str(folder)


def caption(path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("**") and first.endswith("**")
    return first[2:-2]


def conflict(message: str, key: str) -> str:
    """The differing fields the refusal names for one column: the text after '<key> on mnist: ... trials): '."""
    found = re.search(rf"(?:^|; ){key} on mnist: 2 protocols in one column \(3 vs 2 trials\): (.*?)(?:; |$)",
                      message)
    assert found, message
    return found.group(1)


def test_two_protocols_in_one_column_are_refused_naming_the_differing_fields(tmp_path, capsys):
    a = write_folder(tmp_path, "a")
    b = write_folder(tmp_path, "b", {"resize": "bilinear", "fake_count": 5000})
    out = tmp_path / "out"
    with pytest.raises(ValueError) as refused:
        report_main([a, b], str(out))
    message = str(refused.value)
    assert "\n" not in message
    assert conflict(message, "fid") == "resize 'clean' vs 'bilinear', generated images 10000 vs 5000"
    assert conflict(message, "is_mean") == "resize 'clean' vs 'bilinear', generated images 10000 vs 5000"
    assert message.endswith("pass --mix_protocols to write one table per protocol, or report the folders "
                            "separately")
    assert not out.exists()  # refused before writing anything
    with pytest.raises(ValueError, match="resize 'clean' vs 'bilinear'"):
        report_main([a, b], str(out), which="best")  # the records of the best evaluations differ alike
    assert cli.main(["report", a, b, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "resize 'clean' vs 'bilinear'" in err[0]


@pytest.mark.parametrize("change,named", [
    ({"precision": "tensorfloat32"}, "precision 'float32' vs 'tensorfloat32'"),
    ({"generator_weights": "final"}, "G weights 'ema' vs 'final'"),
    ({"weights_sha256": "f" * 64}, "network weights '6726825d00000000' vs 'ffffffffffffffff'"),
    ({"real_split": "train", "real_sha256": "fedcba9876543210"},
     "reference split 'test' vs 'train', real content '0123456789abcdef' vs 'fedcba9876543210'"),
    ({"real_count": 5000}, "real images 10000 vs 5000"),
])
def test_each_field_is_named_alone(tmp_path, change, named):
    a, b = write_folder(tmp_path, "a"), write_folder(tmp_path, "b", change)
    with pytest.raises(ValueError) as refused:
        report_main([a, b], str(tmp_path / "out"))
    assert conflict(str(refused.value), "fid") == named
    real_only = all(k.startswith("real_") for k in change)
    assert ("is_mean on mnist" in str(refused.value)) != real_only  # IS reads no real images


def test_mix_protocols_writes_one_table_per_protocol_with_its_own_caption(tmp_path):
    a = write_folder(tmp_path, "a")
    b = write_folder(tmp_path, "b", {"resize": "bilinear", "fake_count": 5000})
    out = tmp_path / "out"
    written = report_main([a, b], str(out), mix_protocols=True, n_boot=50)
    assert "fid.md" not in written and {"fid_protocol1.md", "fid_protocol2.md"} <= set(written)
    for i, (folder, resize, fake) in enumerate([("a", "clean", 10000), ("b", "bilinear", 5000)], 1):
        text = caption(out / f"fid_protocol{i}.md")
        assert f"protocol {i} of 2" in text
        assert f"resize {resize}" in text and f"{fake} generated images" in text
        other = "bilinear" if resize == "clean" else "clean"
        assert f"resize {other}" not in (out / f"fid_protocol{i}.md").read_text()
        table = pd.read_csv(out / f"fid_protocol{i}.csv")
        assert list(table["seeds"]) == [len(FIDS[folder])]
        assert table["fid_mean"].iloc[0] == pytest.approx(statistics.mean(FIDS[folder]))
        assert table["fid_std"].iloc[0] == pytest.approx(statistics.stdev(FIDS[folder]))
        assert f"fid_protocol{i}_scores.png" in written
    index = (out / "index.md").read_text()
    assert "one per protocol" in index and "fid_protocol1.md, fid_protocol2.md" in index
    assert "protocol 1 of 2" in index and "protocol 2 of 2" in index
    assert cli.main(["report", a, b, "--out", str(tmp_path / "cli"), "--mix_protocols"]) == 0
    assert (tmp_path / "cli" / "fid_protocol2.md").exists()


def test_scores_without_records_are_their_own_group(tmp_path):
    a = write_folder(tmp_path, "a")
    old = write_folder(tmp_path, "b", recorded=False)
    with pytest.raises(ValueError) as refused:
        report_main([a, old], str(tmp_path / "out"))
    assert conflict(str(refused.value), "fid") == "protocol not recorded for 2 of 5 trials"
    # Old results alone: one table that says its protocol is unknown.
    out = tmp_path / "old"
    report_main([old], str(out), n_boot=50)
    assert "FID protocol: protocol not recorded" in caption(out / "fid.md")
    # Mixed on request: recorded and unrecorded scores in separate tables.
    out = tmp_path / "mixed"
    report_main([a, old], str(out), mix_protocols=True, n_boot=50)
    assert "resize clean" in caption(out / "fid_protocol1.md")
    assert "protocol not recorded" in caption(out / "fid_protocol2.md")
    assert pd.read_csv(out / "fid_protocol2.csv")["fid_mean"].iloc[0] == pytest.approx(statistics.mean(FIDS["b"]))


def test_caption_and_notes_state_the_protocol(tmp_path):
    a = write_folder(tmp_path, "a")
    out = tmp_path / "out"
    report_main([a], str(out), n_boot=50)
    text = caption(out / "fid.md")
    for field in ("FID protocol:", "inception_pool3 features", "network fid_inception_v3 (weights 6726825d00000000)",
                  "resize clean", "precision float32", "10000 generated images", "G weights ema",
                  "10000 real images", "reference split test", "reference dataset mnist",
                  "real content 0123456789abcdef"):
        assert field in text, field
    markdown = (out / "fid.md").read_text()
    notes = [line for line in markdown.splitlines() if line.startswith("- Protocol of ")]
    assert len(notes) == 2 and notes[0].startswith("- Protocol of FID: ") and notes[1].startswith("- Protocol of IS: ")
    assert "real images" not in notes[1] and "inception_logits features" in notes[1]
    assert "G weights ema" in (out / "fid.tex").read_text()


def test_datasets_keep_their_own_real_images(tmp_path):
    """Rows of different datasets are never ranked against each other: their real images differ by definition,
    and the caption states each dataset's."""
    a = write_folder(tmp_path, "a")
    cifar = {**NS, "trial.dataset": "cifar10"}
    c = write_folder(tmp_path, "c", {"real_dataset": "cifar10", "real_sha256": "aaaaaaaaaaaaaaaa"}, model=cifar,
                     fids=[50.0, 52.0])
    out = tmp_path / "out"
    report_main([a, c], str(out), n_boot=50)
    text = caption(out / "fid.md")
    assert "resize clean" in text and "10000 generated images" in text
    assert "on cifar10: reference dataset cifar10, real content aaaaaaaaaaaaaaaa" in text
    assert "on mnist: reference dataset mnist, real content 0123456789abcdef" in text


def test_published_sample_size_mismatch_is_noted_per_row(tmp_path):
    """NS GAN's preset declares the 10000 generated images it was evaluated with; WGAN-GP's declares 50000."""
    ns = write_folder(tmp_path, "ns", model=NS, fids=[20.0, 21.0], extra={"fid.published_num_samples": 10000})
    gp = write_folder(tmp_path, "gp", model=GP, fids=[25.0, 26.0], extra={"fid.published_num_samples": 50000,
                                                                          "fid.published_num_real": 10000})
    out = tmp_path / "out"
    report_main([ns, gp], str(out), n_boot=50)
    notes = pd.read_csv(out / "fid.csv").set_index("model")["note"].fillna("")
    assert notes["NS GAN"] == ""
    assert notes["WGAN-GP"] == ("FID from 10000 generated images where the preset's published protocol uses "
                                "50000 (fid.published_num_samples): not comparable with the published FID")
    assert "published protocol uses 50000" in (out / "fid.md").read_text()


def test_summarize_protocols_takes_the_record_of_the_final_and_the_best_value():
    small, large = protocol_record(fake_count=5000), protocol_record(fake_count=10000)
    rows = [{"step": 1, "fid": 20.0, "fid_protocol": small, "is_mean": 3.0},
            {"step": 2, "fid": 30.0, "fid_protocol": large, "is_mean": 2.0, "modes_covered": 3.0}]
    out = summarize_protocols(rows)
    assert json.loads(out["final_fid_protocol"]) == large
    assert json.loads(out["best_fid_protocol"]) == small  # FID: lower is better
    assert out["final_is_mean_protocol"] is None and out["best_is_mean_protocol"] is None  # not recorded
    assert "final_modes_covered_protocol" not in out  # mode counts have no protocol


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def _points(n, seed):
    return np.random.default_rng(seed).normal(size=(n, 2))


def test_evaluation_logs_a_published_sample_size_mismatch(clean_gin, caplog):
    gin.parse_config("fid.published_num_samples = 50\nfid.published_num_real = 60")
    ctx = ev.EvalContext(real=_points(60, 0), fake=_points(40, 1))
    with caplog.at_level(logging.WARNING, logger="gan_bench"):
        row = ev.evaluate(["fid"], ctx)
    assert row["fid_protocol"]["fake_count"] == 40
    warned = [r.getMessage() for r in caplog.records if r.name == "gan_bench"]
    assert warned == ["FID from 40 generated images where the preset's published protocol uses 50 "
                      "(fid.published_num_samples): not comparable with the published FID"]
    caplog.clear()
    ev.evaluate(["fid"], ev.EvalContext(real=_points(60, 0), fake=_points(50, 1)))
    assert not [r for r in caplog.records if r.name == "gan_bench"]


@pytest.mark.parametrize("binding", ["fid.published_num_samples = 0", "fid.published_num_real = 'all'",
                                     "fid.published_num_samples = 5000.0"])
def test_bad_published_sample_size_fails_before_compute(clean_gin, binding):
    gin.parse_config(binding)
    with pytest.raises(ValueError, match=re.escape(binding.split(" = ")[0])):
        ev.check_settings(["fid"])
