"""Learning-rate schedules: `trial.lr_schedule = 'name'` scales G's and D's learning rates by a factor of the step.

A schedule is a function `fn(train_steps) -> factor` (its own hyperparameters are gin keys, read when the model
is built) returning `factor(step)`: a float32 multiple of the trial's `g_lr` / `d_lr` for the generator update
numbered `step` (0-based: `GANState.step` before the update) and for the `n_disc` discriminator updates before
it, as SNGAN's code moves both optimizers' rates once per generator iteration; or None for no schedule. The
factor is a pure function of the step, so a resumed trial and a population (each member's own rates times one
factor) train as an uninterrupted solo run would.

To add one: a function here decorated with `@schedule("name", depends_on_length=..., gin_configurables=...)`.
`depends_on_length` says the factor reads `train_steps`: such a trial cannot be continued to more steps
(`--continue_to`), because the steps already run followed the shorter schedule. `gin_configurables` names the
configurable(s) holding its keys, so that keys bound while another schedule is chosen are reported.
"""
from typing import Callable, List, Optional, Sequence

import gin
import jax.numpy as jnp

from gan_bench.checks import is_whole
from gan_bench.registry import Registry

LR_SCHEDULES: Registry = Registry("learning-rate schedule")


def schedule(name: str, depends_on_length: bool, gin_configurables: Sequence[str] = ()):
    """Register a schedule under `name` (`trial.lr_schedule = name`); `gin_configurables` hold its gin keys."""
    def decorator(fn):
        fn.depends_on_length = depends_on_length
        return LR_SCHEDULES.register(name, gin_configurables)(fn)
    return decorator


@schedule("constant", depends_on_length=False)
def constant(train_steps: int) -> None:
    """The rates as configured: the step leaves the optimizers' rates alone, as before schedules existed."""
    del train_steps


@schedule("linear", depends_on_length=True, gin_configurables=("lr_linear",))
@gin.configurable("lr_linear", denylist=["train_steps"])
def linear(train_steps: int, start: int = 0) -> Callable:
    """SNGAN's schedule (Miyato et al. 2018: chainer's LinearShift of Adam's alpha to 0 over the generator
    iterations (start, train_steps); `lr_linear.start` is its iteration_decay_start, 0 in the CIFAR-10
    configurations): 1 up to update `start`, then 1 - (step - start) / (train_steps - start)."""
    if not is_whole(start) or not 0 <= start < train_steps:
        raise ValueError(f"lr_linear.start = {start!r}: expected a whole number of generator updates in "
                         f"[0, trial.train_steps = {train_steps}) where the linear learning-rate decay begins")

    def factor(step):
        progress = (jnp.asarray(step, jnp.float32) - start) / float(train_steps - start)
        return 1.0 - jnp.clip(progress, 0.0, 1.0)
    return factor


def factor_fn(name: str, train_steps: int) -> Optional[Callable]:
    """`step -> factor` of schedule `name` for a trial of `train_steps` steps (None: rates left alone)."""
    return LR_SCHEDULES.get(name)(train_steps)


def problems(name: str, train_steps: int) -> List[str]:
    """What cannot work in schedule `name`'s gin keys for a trial of `train_steps` steps (empty when fine)."""
    try:
        factor_fn(name, train_steps)
    except ValueError as e:
        return [str(e)]
    return []


def continue_problem(name: str) -> Optional[str]:
    """Why a trial on schedule `name` cannot be trained on to more steps, or None when it can."""
    if LR_SCHEDULES.get(name).depends_on_length:
        return (f"trial.lr_schedule = {name!r} depends on trial.train_steps: the steps already run followed the "
                f"shorter schedule, so a continued trial would not end where an uninterrupted run would")
    return None
