"""Model names for tables, figures and the index: paper names, never raw registry keys.

A model is what a study compares: the loss, the penalty, PacGAN packing and, when they vary within a dataset of
the study, the other model-defining keys (`MODEL_KEYS`). Everything else a sweep varies (learning rates, betas,
n_disc, penalty weight, ...) is a hyperparameter of the model, tuned per model as in Lucic et al. 2018, and shown
as a configuration column instead. `model_labels` names every trial of a frame once, so tables, figures and the
index share one name per model.
"""
from typing import Iterable, List, Sequence

# Lucic et al. 2018 (Table 1), Mao et al. 2017, Arjovsky et al. 2017, Lim & Ye 2017, Jolicoeur-Martineau 2019.
LOSS_NAMES = {
    "minimax": "MM GAN",
    "non_saturating": "NS GAN",
    "least_squares": "LSGAN",
    "wasserstein": "WGAN",
    "hinge": "hinge GAN",
    "relativistic_average": "RaGAN",
}

# Penalties appended to the loss name: Gulrajani et al. 2017 (GP), Kodali et al. 2017 (DRAGAN), Mescheder et al.
# 2018 (R1, R2), L2 weight decay, Arjovsky et al. 2017 (weight clipping).
PENALTY_NAMES = {
    "wgan_gp": "GP",
    "dragan": "DRAGAN",
    "r1": "R1",
    "r2": "R2",
    "l2": "L2",
    "weight_clipping": "weight clipping",
}

# Pairs with a name of their own in the papers. WGAN is defined with weight clipping (Arjovsky et al. 2017), so
# the Wasserstein loss with no Lipschitz constraint at all is named as such, not as "WGAN".
PAIR_NAMES = {
    ("wasserstein", "weight_clipping"): "WGAN",
    ("wasserstein", "wgan_gp"): "WGAN-GP",
    ("wasserstein", "none"): "WGAN (unconstrained critic)",
    ("non_saturating", "dragan"): "DRAGAN",
}

# Keys besides loss, penalty and pack that define a model rather than tune it (Kurach et al. 2019 compare
# normalizations and architectures), with how their values are written.
NORM_NAMES = {"none": "no norm", "batch": "BN", "layer": "LN", "spectral": "SN", "weight": "WN"}
ARCHITECTURE_NAMES = {"mlp": "MLP", "infogan": "InfoGAN net", "dcgan": "DCGAN", "sndcgan": "SNDCGAN",
                      "resnet_cifar": "ResNet"}
MODEL_KEYS = ("architecture", "d_norm", "g_norm")
# TrialConfig fields that run a trial without changing what it learns: never part of a model or configuration.
BOOKKEEPING = ("ckpt_every", "log_every", "eval_every", "sample_every", "keep_ckpts", "eval_num_samples", "seed",
               "data_dir", "metrics", "eval_split")
_KEY_FORMATS = {
    "architecture": lambda v: ARCHITECTURE_NAMES.get(v, str(v)),
    "d_norm": lambda v: f"D {NORM_NAMES.get(v, v)}",
    "g_norm": lambda v: f"G {NORM_NAMES.get(v, v)}",
}


def model_name(loss: str, penalty: str = "none", pack: int = 1, extras: Sequence[str] = ()) -> str:
    """'NS GAN', 'WGAN-GP', 'NS GAN + R1', 'PacGAN2', 'LSGAN + PacGAN2', 'NS GAN (D SN)', ...

    loss/penalty: registry keys (trial.loss, trial.penalty); a key with no paper name is kept as it is.
    pack: trial.pack; PacGAN (Lin et al. 2018) with the standard GAN loss is 'PacGAN<m>', any other base model
    gets ' + PacGAN<m>'. extras: already formatted values of other model-defining keys, shown in parentheses.
    """
    loss, penalty = str(loss), str(penalty)
    name = PAIR_NAMES.get((loss, penalty))
    if name is None:
        name = LOSS_NAMES.get(loss, loss)
        if penalty != "none":
            name = f"{name} + {PENALTY_NAMES.get(penalty, penalty)}"
    pack = int(pack) if pack == pack and pack is not None else 1  # NaN (column absent) → no packing
    if pack > 1:
        name = f"PacGAN{pack}" if name == "NS GAN" else f"{name} + PacGAN{pack}"
    if extras:
        name = f"{name} ({', '.join(extras)})"
    return name


def format_model_key(key: str, value) -> str:
    """The text of one model-defining key's value, as it appears in a model name."""
    return _KEY_FORMATS.get(key, lambda v: f"{key}={v}")(value)


def keys_varying_within_datasets(df, keys: Iterable[str]) -> List[str]:
    """The `keys` (columns of `df`) that take two or more values among the trials of at least one dataset.

    A key that differs only between datasets (an MLP for ring8, a conv net for images) names no model apart.
    """
    varying = []
    for key in keys:
        if key not in df.columns:
            continue
        values = df[key].astype(str)
        if (values.groupby(df["dataset"].astype(str)).nunique() > 1).any():
            varying.append(key)
    return varying


def model_labels(df, exclude: Sequence[str] = ()) -> List[str]:
    """One model name per trial (a list aligned with the rows of `df`), the same in every table and figure.

    loss, penalty and pack always enter the name; each key of `MODEL_KEYS` not in `exclude` enters it when it
    varies within a dataset (`keys_varying_within_datasets`).
    """
    shown = [k for k in keys_varying_within_datasets(df, MODEL_KEYS) if k not in exclude]
    names = []
    for _, row in df.iterrows():
        extras = [format_model_key(k, row[k]) for k in shown]
        names.append(model_name(row["loss"], row["penalty"], row.get("pack", 1), extras))
    return names
