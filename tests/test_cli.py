"""The command line a newcomer meets: one-line errors before compute, --debug tracebacks, help texts, progress.

User errors run the real `gan-bench` entry point in a subprocess, so that everything the process writes to
stderr (library logging included) is checked: exit status 2, exactly one line naming the offending flag,
file, key or value, and no traceback unless --debug asks for one.
"""
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gan_bench import cli, data
from gan_bench.gan.losses import LOSSES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RING = os.path.join(REPO, "gin_configs", "presets", "ring8_mlp.gin")


def _closed_port() -> int:
    with socket.socket() as sock:  # nothing listens there once it is closed: downloads fail at once
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def env(tmp_path):
    """No Inception weights anywhere and no network for them; CPU only (no accelerator probing messages)."""
    out = dict(os.environ, GAN_BENCH_CACHE=str(tmp_path / "cache"), TFDS_DATA_DIR=str(tmp_path / "tfds"),
               GAN_BENCH_INCEPTION_URL=f"http://127.0.0.1:{_closed_port()}/w.pth", JAX_PLATFORMS="cpu")
    out.pop("GAN_BENCH_INCEPTION_WEIGHTS", None)
    return out


def gan_bench(env, *argv):
    return subprocess.run([sys.executable, "-m", "gan_bench.cli", *map(str, argv)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


class InProcess:
    """`gan_bench.cli.main` run in this process (no start-up cost) for variations of a case that a
    subprocess test already covers end to end; the same fields as a CompletedProcess."""

    def __init__(self, capsys, *argv):
        self.returncode = cli.main([str(a) for a in argv])
        self.stdout, self.stderr = capsys.readouterr()


def assert_one_line_error(proc, command, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"gan-bench {command}: error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def test_workdir_or_results_that_is_a_file(tmp_path, env):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    assert_one_line_error(gan_bench(env, "train", "--gin_file", RING, "--workdir", a_file), "train",
                          "--workdir", a_file, "existing file")
    sweep = tmp_path / "s.gin"
    sweep.write_text("sweep.grid = {'trial.loss': ['hinge']}\n")
    for extra in ([], ["--dry_run"]):
        assert_one_line_error(gan_bench(env, "sweep", sweep, "--results", a_file, *extra), "sweep",
                              "--results", a_file, "existing file")


def test_gin_file_missing_or_unparseable(tmp_path, env, capsys):
    missing = tmp_path / "missing.gin"
    assert_one_line_error(gan_bench(env, "train", "--gin_file", missing, "--workdir", tmp_path / "w"), "train",
                          missing)
    broken = tmp_path / "broken.gin"
    broken.write_text("trial.loss = 'hinge\n")
    assert_one_line_error(InProcess(capsys, "train", "--gin_file", broken, "--workdir", tmp_path / "w"), "train",
                          broken, "line 1")
    misspelled_key = tmp_path / "key.gin"
    misspelled_key.write_text("trial.los = 'hinge'\n")
    assert_one_line_error(InProcess(capsys, "train", "--gin_file", misspelled_key, "--workdir", tmp_path / "w"),
                          "train", misspelled_key, "'los'", "did you mean 'loss'?")
    includes_missing = tmp_path / "include.gin"
    includes_missing.write_text("include 'no/such/base.gin'\n")
    assert_one_line_error(InProcess(capsys, "train", "--gin_file", includes_missing, "--workdir", tmp_path / "w"),
                          "train", includes_missing, "no/such/base.gin")
    assert not (tmp_path / "w").exists()  # refused before the trial folder is made


def test_unknown_loss_in_train_names_key_value_and_known_losses(tmp_path, env):
    line = assert_one_line_error(
        gan_bench(env, "train", "--gin_file", RING, "--gin_binding", "trial.loss = 'wasserstien'",
                  "--workdir", tmp_path / "w"), "train", "trial.loss", "'wasserstien'", "did you mean 'wasserstein'?")
    assert ", ".join(sorted(LOSSES.names())) in line and "losss" not in line
    assert not (tmp_path / "w").exists()


def test_debug_prints_the_traceback(tmp_path, env, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for proc in (gan_bench(env, "--debug", "train", "--gin_file", RING, "--workdir", a_file),
                 InProcess(capsys, "train", "--debug", "--gin_file", RING, "--workdir", a_file)):
        assert proc.returncode == 2
        assert proc.stderr.startswith("Traceback (most recent call last):")
        assert proc.stderr.splitlines()[-1].startswith("gan-bench train: error: --workdir")


def test_missing_inception_weights_offline(tmp_path, env):
    images = tmp_path / "images.npz"
    np.savez(images, images=np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8))
    expected_file = os.path.join(env["GAN_BENCH_CACHE"], "pt_inception-2015-12-05-6726825d.pth")
    assert_one_line_error(gan_bench(env, "metrics", "--real", images, "--fake", images, "--metrics", "fid"),
                          "metrics", expected_file, "$GAN_BENCH_INCEPTION_WEIGHTS", "put it at")


def test_empty_or_wrong_mnist_data_dir_in_train(tmp_path, env):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = gan_bench(env, "train", "--gin_file", RING, "--gin_binding", "trial.dataset = 'mnist'",
                     "--gin_binding", f"trial.data_dir = '{empty}'", "--gin_binding", "trial.architecture = 'infogan'",
                     "--workdir", tmp_path / "w")
    line = assert_one_line_error(proc, "train", empty, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    assert "already prepared" not in line
    assert os.listdir(empty) == []


@pytest.mark.parametrize("name, expected", [("mnist", "train-images-idx3-ubyte"),
                                            ("fashion_mnist", "train-images-idx3-ubyte"),
                                            ("cifar10", "data_batch")])
def test_data_dir_errors_name_the_folder_and_the_files(tmp_path, name, expected):
    for folder in (tmp_path / "empty", tmp_path / "does_not_exist"):
        if folder.name == "empty":
            folder.mkdir()
        with pytest.raises(ValueError) as err:
            data.load(name, "train", data_dir=str(folder))
        message = str(err.value)
        assert "\n" not in message and str(folder) in message and expected in message
        assert "already prepared" not in message


def test_eval_without_checkpoint_and_not_a_trial_folder(tmp_path, env, capsys):
    workdir = tmp_path / "trial"
    workdir.mkdir()
    (workdir / "config.gin").write_text("trial.metrics = ['modes_2d']\n")
    assert_one_line_error(gan_bench(env, "eval", "--workdir", workdir), "eval", workdir / "ckpt", "no checkpoint")
    assert_one_line_error(InProcess(capsys, "eval", "--workdir", tmp_path / "nothing"), "eval",
                          tmp_path / "nothing" / "config.gin")
    assert_one_line_error(InProcess(capsys, "eval", "--workdir", workdir, "--metrics", "modes_2d,fdi"), "eval",
                          "'fdi'", "did you mean 'fid'?")


def test_metrics_on_missing_path_or_folder_without_images(tmp_path, env, capsys):
    (tmp_path / "empty").mkdir()
    images = tmp_path / "images.npz"
    np.savez(images, images=np.zeros((2, 8, 8, 3), np.uint8))
    assert_one_line_error(gan_bench(env, "metrics", "--real", tmp_path / "nope", "--fake", images), "metrics",
                          tmp_path / "nope", "does not exist")
    assert_one_line_error(InProcess(capsys, "metrics", "--real", images, "--fake", tmp_path / "empty"), "metrics",
                          tmp_path / "empty", "no images", ".png")
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    assert_one_line_error(InProcess(capsys, "metrics", "--real", tmp_path / "bad.npz", "--fake", images), "metrics",
                          tmp_path / "bad.npz")


def _sweep(tmp_path, text):
    path = tmp_path / "s.gin"
    path.write_text(f"include '{RING}'\n" + textwrap.dedent(text))
    return path


def test_dry_run_refuses_a_misspelled_loss_in_the_grid(tmp_path, env):
    path = _sweep(tmp_path, "sweep.grid = {'trial.loss': ['hinge', 'wasserstien'], 'trial.n_disc': [1, 2]}\n")
    proc = gan_bench(env, "sweep", path, "--results", tmp_path / "results", "--dry_run")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2  # one line per bad trial: 'wasserstien' x n_disc 1, 2
    for line, n_disc in zip(lines, (1, 2)):
        assert line.startswith(f"gan-bench sweep: error: sweep file {path}, line 2: trial ")
        assert f'"trial.n_disc": {n_disc}' in line
        assert "trial.loss: unknown loss 'wasserstien'" in line
        assert ", ".join(sorted(LOSSES.names())) in line and "did you mean 'wasserstein'?" in line
    assert not (tmp_path / "results").exists()


def test_dry_run_refuses_a_misspelled_choice_of_the_random_search(tmp_path, env):
    # One random setting: whether or not it draws the bad name, every choice is checked.
    path = _sweep(tmp_path, """
        sweep.random = {'trial.loss': ('choice', ['hinge', 'wasserstien']),
                        'trial.g_lr': ('log_uniform', 1e-4, 1e-3)}
        sweep.num_random = 1
    """)
    proc = gan_bench(env, "sweep", path, "--results", tmp_path / "results", "--dry_run")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == (f"gan-bench sweep: error: sweep file {path}, line 3: sweep.random key 'trial.loss', choice "
                        f"'wasserstien': trial.loss: unknown loss 'wasserstien'; known losses: "
                        f"{', '.join(sorted(LOSSES.names()))}; did you mean 'wasserstein'?")
    assert all("'wasserstien'" in line for line in lines) and len(lines) <= 2


def test_help_describes_every_command_and_flag():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0]  # pylint: disable=protected-access
    helps = {a.dest: a.help for a in commands._choices_actions}  # pylint: disable=protected-access
    assert set(helps) == set(commands.choices) and all(helps.values())
    for name in ("train", "sweep", "eval", "metrics", "stats"):
        for action in commands.choices[name]._actions:  # pylint: disable=protected-access
            assert action.help, (name, action.dest)


def test_train_help_explains_the_trial_folder_and_resume(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for needle in ("config.gin", "metrics.jsonl", "samples/", "ckpt/", "tb/", "status.json", "Resume",
                   "newest checkpoint"):
        assert needle in text


def test_metrics_help_lists_every_registered_metric_and_the_inputs(capsys):
    from gan_bench.metrics.evaluate import METRICS
    with pytest.raises(SystemExit):
        cli.main(["metrics", "--help"])
    text = capsys.readouterr().out
    listed = re.search(r"METRICS\):\n  (.*)\n", text).group(1).split(", ")
    assert listed == list(METRICS.names())
    for needle in ("image folder", ".npz", "'images'", "[N, H, W, C]", "uint8", "[-1, 1]"):
        assert needle in text


def test_library_value_errors_keep_their_traceback(monkeypatch):
    """A ValueError raised inside numpy is an internal error, not a user error: it is not reduced to a line."""
    from gan_bench import evaluate_trial
    monkeypatch.setattr(evaluate_trial, "evaluate_workdir", lambda *a: np.zeros(3).reshape(2))
    with pytest.raises(ValueError, match="cannot reshape"):
        cli.main(["eval", "--workdir", "anything"])


def test_train_and_eval_report_progress_as_plain_log_lines(tmp_path, env):
    workdir = tmp_path / "ring"
    proc = gan_bench(env, "train", "--gin_file", RING, "--workdir", workdir, "--gin_binding", "trial.train_steps = 4",
                     "--gin_binding", "trial.log_every = 2", "--gin_binding", "trial.ckpt_every = 4",
                     "--gin_binding", "trial.metrics = ['modes_2d']", "--gin_binding", "trial.eval_num_samples = 200",
                     "--no_compilation_cache")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "done"
    for stream in (proc.stderr, proc.stdout):
        assert "\r" not in stream  # not a terminal: no redraws
    lines = proc.stderr.splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d (INFO|WARNING) ", line) for line in lines), proc.stderr
    steps = [line for line in lines if " step " in line and "steps/s" in line]
    # steps/s and the ETA count from the end of the first (compiling) step: known from step 2 on.
    assert [re.search(r"step (\d+)/4", line).group(1) for line in steps] == ["2", "4"]
    assert re.search(r"\d+\.\d\d steps/s, ETA \d", steps[0]) and steps[1].endswith("ETA 0 s")

    proc = gan_bench(env, "eval", "--workdir", workdir)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    stages = [line.split(f"eval {workdir}: ", 1)[1] for line in proc.stderr.splitlines()]
    assert stages == ["loading dataset 'ring8' and building the 'mlp' networks", "loading the checkpoint at step 4",
                      "generating 200 samples at step 4 and reading as many real 'test' ones",
                      "computing metric modes_2d", f"wrote {workdir / 'eval.json'}"]
    assert json.loads(proc.stdout)["step"] == 4


@pytest.mark.parametrize("argv,module,function", [
    (["eval", "--workdir", "w"], "gan_bench.evaluate_trial", "evaluate_workdir"),
    (["metrics", "--real", "r.npz", "--fake", "f.npz"], "gan_bench.metrics.cli_metrics", "metrics_main"),
    (["stats", "--gin_file", "g.gin"], "gan_bench.metrics.reference_stats", "stats_main")])
def test_metric_commands_use_the_persistent_compilation_cache(argv, module, function, tmp_path, monkeypatch):
    """eval, metrics and stats compile the Inception network (about 47 s on an H200): a second call loads it
    from JAX's persistent cache, as train and sweep do; --no_compilation_cache leaves the cache off."""
    import importlib  # pylint: disable=import-outside-toplevel
    import jax  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(importlib.import_module(module), function, lambda *a, **k: {})
    monkeypatch.setenv("GAN_BENCH_JAX_CACHE", str(tmp_path / "cache"))
    before = jax.config.jax_compilation_cache_dir
    try:
        assert cli.main(argv + ["--no_compilation_cache"]) == 0
        assert jax.config.jax_compilation_cache_dir == before
        assert cli.main(argv) == 0
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
