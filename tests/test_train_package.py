"""The training package's parts: the rate timer, the metric writer, the periodic actions' schedule, the
population key, and `gan-bench eval` building only what evaluation needs."""
import dataclasses
import json
import logging
import os
import struct

import gin
import pytest

from gan_bench import data, nets
from gan_bench.config import member_fields, parse_config, population_key
from gan_bench.train import loop, run_trial
from gan_bench.train.writers import MetricWriter, RateTimer

RING = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.batch_size = 32", "trial.z_dim = 8"]


class Clock:
    """A clock that reads the times it is given, in order."""

    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_rate_timer_counts_from_the_end_of_the_first_step():
    # 100 steps in the 8 s since the first step ended: 12.5 steps/s; 4,500 steps left take 360 s.
    timer = RateTimer(4601, clock=Clock(992.0, 1000.0, 1000.0))
    timer.start(1)
    assert timer.progress(101) == "12.50 steps/s, ETA 6 min 00 s"
    assert timer.steps_per_sec(101) == 12.5
    timer = RateTimer(45101, clock=Clock(992.0, 1000.0))
    timer.start(1)
    assert timer.progress(101).endswith("ETA 1 h 00 min")  # 45,000 steps at 12.5 steps/s
    assert RateTimer(100).progress(1) == "- steps/s, ETA -"  # not started
    timer = RateTimer(100, clock=Clock(1000.0, 1000.0, 1003.0))
    timer.start(1)
    assert timer.progress(1) == "- steps/s, ETA -"  # no timed step yet
    assert timer.steps_per_sec(1) is None


def _tensorboard_scalars(folder):
    """{(tag, step): value} read from the TFRecord event files (length, crc, Event proto, crc) in `folder`."""
    from tensorboardX.proto.event_pb2 import Event  # pylint: disable=import-outside-toplevel
    scalars = {}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as f:
            blob = f.read()
        pos = 0
        while pos < len(blob):
            (size,) = struct.unpack("<Q", blob[pos:pos + 8])
            event = Event.FromString(blob[pos + 12:pos + 12 + size])
            pos += 12 + size + 4
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars[(value.tag, event.step)] = value.simple_value
    return scalars


def test_metric_writer_fans_out_to_log_metrics_jsonl_and_tensorboard(tmp_path, caplog):
    workdir = tmp_path / "t1"
    workdir.mkdir()
    timer = RateTimer(10, clock=Clock(100.0, 104.0))
    timer.start(2)
    writer = MetricWriter(str(workdir) + "/", timer)
    with caplog.at_level(logging.INFO, logger="gan_bench"):
        writer.write_train(6, {"g_loss": 1.25, "d_loss": 0.5})  # 4 steps in 4 s, 4 steps left
    assert caplog.messages == ["t1 step 6/10 d_loss=0.5 g_loss=1.25 1.00 steps/s, ETA 4 s"]
    row = {"step": 6, "fid": 12.5, "note": "text"}
    writer.write_eval(row)
    assert writer.final_metrics() == row
    writer.close()
    assert [json.loads(line) for line in open(workdir / "metrics.jsonl")] == [row]
    assert _tensorboard_scalars(workdir / "tb") == {("train/g_loss", 6): 1.25, ("train/d_loss", 6): 0.5,
                                                     ("eval/fid", 6): 12.5}
    writer.resume_at(5)  # a resume from step 5 forgets the evaluation of step 6
    assert writer.final_metrics() == {} and open(workdir / "metrics.jsonl").read() == ""


def test_each_action_runs_on_its_own_period_and_at_the_last_step(tmp_path, monkeypatch, caplog):
    titles = {}
    real_save = loop.save_samples_png

    def save(path, fake, real, title=None):
        titles[os.path.basename(path)] = title
        return real_save(path, fake, real, title=title)

    monkeypatch.setattr(loop, "save_samples_png", save)
    workdir = tmp_path / "ring"
    with caplog.at_level(logging.INFO, logger="gan_bench"):
        status = run_trial(str(workdir), (), RING + [
            "trial.train_steps = 10", "trial.log_every = 3", "trial.sample_every = 4", "trial.eval_every = 5",
            "trial.ckpt_every = 0", "trial.keep_ckpts = 5", "trial.metrics = ['modes_2d']",
            "trial.eval_num_samples = 200", "trial.loss = 'wasserstein'", "trial.penalty = 'wgan_gp'"])
    assert status["state"] == "done" and status["final_metrics"]["step"] == 10
    logged = [int(m.split(" step ")[1].split("/")[0]) for m in caplog.messages if m.startswith("ring step ")]
    assert logged == [3, 6, 9, 10]
    assert titles == {f"step_{s:07d}.png": f"WGAN-GP\ntrial ring, step {s:,}" for s in (4, 8, 10)}
    assert [json.loads(line)["step"] for line in open(workdir / "metrics.jsonl")] == [5, 10]
    assert sorted(os.listdir(workdir / "ckpt")) == ["ckpt_000000010.msgpack", "ckpt_000000010.msgpack.sha256"]


def test_population_key_ignores_only_the_member_fields():
    cfg = parse_config((), RING)
    text = gin.config_str()
    key = population_key(cfg, text)
    assert {"seed", "g_lr", "d_lr", "beta1", "beta2", "ema_decay"} <= member_fields()
    assert not {"batch_size", "loss", "train_steps", "architecture"} & member_fields()
    assert population_key(dataclasses.replace(cfg, seed=3, g_lr=0.1, beta2=0.9, ema_decay=0.5), text) == key
    assert population_key(dataclasses.replace(cfg, batch_size=64), text) != key
    assert population_key(dataclasses.replace(cfg, loss="hinge"), text) != key
    assert population_key(cfg, text + "\nmlp.width = 3") != key  # a network family's binding
    assert population_key(cfg, "trial.seed = 4\n" + text) == key  # trial fields are compared as fields


@pytest.fixture(name="trained_ring")
def fixture_trained_ring(tmp_path):
    """A finished ring trial with batch norm in G and an EMA generator, evaluated at its last step."""
    workdir = str(tmp_path / "trained")
    run_trial(workdir, (), RING + [
        "trial.g_norm = 'batch'", "trial.ema_decay = 0.9", "trial.g_lr = 1e-3", "trial.d_lr = 1e-3",
        "trial.train_steps = 300", "trial.eval_every = 300", "trial.ckpt_every = 300", "trial.log_every = 0",
        "trial.metrics = ['modes_2d']", "trial.eval_num_samples = 2000"])
    return workdir


def test_eval_reads_no_train_split_and_matches_training_time_evaluation(trained_ring, monkeypatch):
    """The checkpoint's EMA weights and batch-norm statistics are what the eval's generator uses: its metrics
    equal those the trial logged at that step, without the train split or a training Engine."""
    from gan_bench.evaluate_trial import evaluate_workdir  # pylint: disable=import-outside-toplevel
    load = data.load

    def eval_split_only(name, split="train", data_dir=None, **options):
        assert split != "train", "gan-bench eval read the train split"
        return load(name, split=split, data_dir=data_dir, **options)

    def no_engine(*args, **kwargs):
        raise AssertionError("gan-bench eval built a training Engine")

    monkeypatch.setattr(data, "load", eval_split_only)
    monkeypatch.setattr(loop.Engine, "__init__", no_engine)
    logged = [json.loads(line) for line in open(os.path.join(trained_ring, "metrics.jsonl"))][-1]
    row = evaluate_workdir(trained_ring)
    assert row["step"] == logged["step"] == 300
    assert logged["high_quality_fraction"] > 0  # trained enough that the comparison is not of zeros
    for key in ("modes_covered", "high_quality_fraction", "reverse_kl"):
        assert row[key] == pytest.approx(logged[key], rel=1e-6)


def test_eval_uses_the_convolutions_the_trial_recorded(trained_ring):
    from gan_bench import evaluate_trial  # pylint: disable=import-outside-toplevel
    record_path = os.path.join(trained_ring, "conv_impl.json")
    record = json.load(open(record_path))
    assert record["conv_impl"] == "auto"
    for chosen in ("xla", "cpu_tuned"):  # whatever this machine would choose, the record wins
        with open(record_path, "w") as f:
            json.dump({**record, "chosen": chosen}, f)
        cfg = parse_config([os.path.join(trained_ring, "config.gin")])
        evaluator, _ = evaluate_trial._generator_and_template(cfg, trained_ring)  # pylint: disable=protected-access
        assert evaluator.model.generator.conv == nets.conv_impl(chosen)
