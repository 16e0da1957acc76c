"""`trial.steps_per_call`: K steps as one scanned call write what K single calls write, and the loop keeps
every action on its own step."""
import json
import os

import flax.serialization
import jax
import numpy as np
import pytest

from gan_bench import checkpoint
from gan_bench.config import parse_config
from gan_bench.train import run_trial
from gan_bench.train.loop import PeriodicAction, call_plan

# G's hidden layers without bias: a bias in front of batch norm has an exactly zero gradient, so Adam turns
# the rounding noise of its gradient into steps of up to lr (a value of about 1e-5 here, made of noise alone),
# and any change of rounding, such as another CPU's, moves it by its own size. The other leaves agree at
# float32 rounding.
BASE = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.batch_size = 32", "trial.z_dim = 8",
        "trial.ckpt_every = 6", "trial.eval_every = 7", "trial.log_every = 0", "trial.metrics = ['modes_2d']",
        "trial.eval_num_samples = 500", "mlp.g_hidden_bias = False"]


def _action(every, last):
    return PeriodicAction("a", every, last, run=None)


def test_call_plan_scans_where_no_action_falls_inside_a_call():
    # Worked by hand: from step 37 to 120 with K = 10 and actions every 25 (due at 50, 75, 100) and at 120.
    # A call may end on a due step but not pass over one; where it would, single steps lead up to it.
    actions = [_action(25, 120), _action(0, 120)]
    assert call_plan(37, 120, 10, actions) == [
        (37, 10),  # 38..47 inside: none due
        *[(s, 1) for s in range(47, 50)],  # 48..56 would pass 50
        (50, 10), (60, 10),  # 70 -> 80 would pass 75
        *[(s, 1) for s in range(70, 75)],
        (75, 10), (85, 10),  # 95 -> 105 would pass 100
        *[(s, 1) for s in range(95, 100)],
        (100, 10), (110, 10)]  # ends at 120, the last step
    assert call_plan(0, 7, 3, []) == [(0, 3), (3, 3), (6, 1)]  # no call runs past the end
    assert call_plan(5, 9, 1, [_action(1, 9)]) == [(5, 1), (6, 1), (7, 1), (8, 1)]
    assert call_plan(9, 9, 4, []) == []


def test_steps_per_call_must_be_positive():
    with pytest.raises(ValueError, match=r"trial.steps_per_call must be > 0, got 0"):
        parse_config((), ["trial.steps_per_call = 0"])


def _checkpoint(workdir, step):
    with open(checkpoint.path_of(os.path.join(workdir, "ckpt"), step), "rb") as f:
        return flax.serialization.msgpack_restore(f.read())


def _assert_same_state(a, b):
    """The same state up to float32 rounding: the scanned program is compiled apart from the single step, and
    XLA may round it differently (byte-equal on CPU under XLA's default flags, not under the test session's
    older fusion emitters)."""
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if np.issubdtype(np.asarray(x).dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(x, y)  # step counters, keys


def _rows(workdir):
    return [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]


def _assert_same_rows(a, b):
    assert [r.keys() for r in a] == [r.keys() for r in b] and [r["step"] for r in a] == [r["step"] for r in b]
    for r, q in zip(a, b):
        numbers = [k for k in r if isinstance(r[k], (int, float)) and not isinstance(r[k], bool)]
        np.testing.assert_allclose([r[k] for k in numbers], [q[k] for k in numbers], rtol=1e-4, atol=1e-6)
        assert {k: v for k, v in r.items() if k not in numbers} == {k: v for k, v in q.items() if k not in numbers}


def test_scanned_calls_train_as_single_steps_and_resume_off_the_call_grid(tmp_path):
    """14 steps at K = 4 (checkpoints at 6, 12, 14 and evaluations at 7, 14 force single steps between calls)
    end where 14 single steps end, and evaluate the same; so does a K = 4 trial done at 7 steps and continued
    to 14 (its calls start at 7, off the multiples of 4)."""
    single, scanned, continued = (str(tmp_path / name) for name in ("single", "scanned", "continued"))
    assert run_trial(single, (), BASE + ["trial.train_steps = 14"])["state"] == "done"
    assert run_trial(scanned, (), BASE + ["trial.train_steps = 14", "trial.steps_per_call = 4"])["state"] == "done"
    assert run_trial(continued, (), BASE + ["trial.train_steps = 7", "trial.steps_per_call = 4"])["state"] == "done"
    assert run_trial(continued, (), BASE + ["trial.train_steps = 7", "trial.steps_per_call = 4"],
                     continue_to=14)["state"] == "done"
    ckpts = lambda wd: checkpoint.list_steps(os.path.join(wd, "ckpt"))  # noqa: E731
    assert ckpts(single) == ckpts(scanned) == [12, 14]
    for step in (12, 14):
        _assert_same_state(_checkpoint(scanned, step), _checkpoint(single, step))
    _assert_same_state(_checkpoint(continued, 14), _checkpoint(single, 14))
    assert len(_rows(single)) == 2  # steps 7 and 14
    _assert_same_rows(_rows(scanned), _rows(single))
    _assert_same_rows(_rows(continued), _rows(single))
