"""Labels through the pipeline: labelled sources, the engine's real batches, the labels D sees in a whole trial
(before and after a resume), the conditional checks of the configuration, intra-class FID against scipy."""
import dataclasses
import json
import os

import jax
import jax.numpy as jnp

import numpy as np
import pytest
import scipy.linalg

from gan_bench import config, data
from gan_bench.data import files, tfds_data
from gan_bench.gan.state import make_optimizers
from gan_bench.gan.train_step import GANModel
from gan_bench.gan.losses import LOSSES
from gan_bench.metrics.intra_fid_metric import intra_fid
from gan_bench.train import engine as engine_module
from gan_bench.train import run_trial

from conditional_nets import LabelCheckD, LabelG, code

CLASSES = 4


def label_painted_npz(path, n=40, seed=0):
    """Images [n, 4, 4, 1] whose every pixel is code(label), labels under `y`."""
    labels = np.random.default_rng(seed).integers(0, CLASSES, n)
    images = np.broadcast_to(code(labels, CLASSES)[:, None, None, None], (n, 4, 4, 1)).astype(np.float32)
    np.savez(path, images=images, y=labels)
    return labels


def decode(images):
    return np.round((images.reshape(len(images), -1).mean(1) + 0.9) / 1.8 * (CLASSES - 1)).astype(int)


def test_real_batches_carry_the_labels_of_their_images(tmp_path):
    label_painted_npz(tmp_path / "train.npz")
    dataset = data.load("npz", "train", str(tmp_path))
    cfg = config.TrialConfig(dataset="npz", data_dir=str(tmp_path), batch_size=16, n_disc=2,
                             g_conditioning="cbn", d_conditioning="projection")
    for step in range(5):  # batches straddle epochs (40 examples, 32 per step)
        images, labels = engine_module.real_batches(cfg, dataset, step, slice(0, 16))
        assert images.shape == (2, 16, 4, 4, 1) and labels.shape == (2, 16) and labels.dtype == np.int32
        for i in range(2):
            np.testing.assert_array_equal(decode(images[i]), labels[i])
    unconditional = config.TrialConfig(dataset="npz", data_dir=str(tmp_path), batch_size=16)
    assert engine_module.real_batches(unconditional, dataset, 0, slice(0, 16))[1] is None


def _label_checking_model(cfg, dataset, bn_groups=1, *, conv):
    """The trial's model with G painting its labels and D turning NaN where image and label disagree."""
    del bn_groups, conv
    g_tx, d_tx = make_optimizers(cfg)
    return GANModel(generator=LabelG(tuple(dataset.shape), dataset.num_classes),
                    discriminator=LabelCheckD(dataset.num_classes), loss_fn=LOSSES.get(cfg.loss), penalty_fn=None,
                    d_projection=None, z_dim=cfg.z_dim, z_dist=cfg.z_dist, n_disc=cfg.n_disc, pack=1,
                    data_shape=tuple(dataset.shape), g_tx=g_tx, d_tx=d_tx, num_classes=dataset.num_classes,
                    g_labels=True, d_labels=True)


def test_d_sees_every_image_with_its_label_through_a_trial_and_its_resume(tmp_path, monkeypatch):
    label_painted_npz(tmp_path / "train.npz")
    monkeypatch.setattr(engine_module, "build_model", _label_checking_model)
    workdir = str(tmp_path / "trial")
    bindings = ["trial.dataset = 'npz'", f"trial.data_dir = '{tmp_path}'", "trial.architecture = 'mlp'",
                "trial.g_conditioning = 'concat'", "trial.d_conditioning = 'concat'", "trial.batch_size = 12",
                "trial.n_disc = 2", "trial.train_steps = 6", "trial.ckpt_every = 3", "trial.keep_ckpts = 3",
                "trial.conv_impl = 'xla'", "trial.z_dim = 4", "trial.log_every = 1"]
    status = run_trial(workdir, gin_bindings=bindings)
    assert status["state"] == "done"  # a label that disagreed with its image anywhere would have diverged it
    assert os.path.isfile(os.path.join(workdir, "samples", "classes_step_0000006.png"))
    ckpt = os.path.join(workdir, "ckpt", "ckpt_000000006.msgpack")
    first = open(ckpt, "rb").read()
    for name in ("ckpt_000000006.msgpack", "ckpt_000000006.msgpack.sha256"):
        os.remove(os.path.join(workdir, "ckpt", name))
    os.remove(os.path.join(workdir, "status.json"))
    assert run_trial(workdir, gin_bindings=bindings)["state"] == "done"  # resumed from step 3
    assert open(ckpt, "rb").read() == first


def test_a_label_mismatch_is_caught_by_the_checking_nets(tmp_path, monkeypatch):
    """The check above can fail: labels shifted by one class against their images diverge the trial."""
    label_painted_npz(tmp_path / "train.npz")
    monkeypatch.setattr(engine_module, "build_model", _label_checking_model)
    real_batches = engine_module.real_batches
    monkeypatch.setattr(engine_module, "real_batches", lambda *a: (lambda b: (b[0], (b[1] + 1) % CLASSES))(
        real_batches(*a)))
    bindings = ["trial.dataset = 'npz'", f"trial.data_dir = '{tmp_path}'", "trial.g_conditioning = 'concat'",
                "trial.d_conditioning = 'concat'", "trial.batch_size = 12", "trial.train_steps = 2",
                "trial.conv_impl = 'xla'", "trial.z_dim = 4"]
    assert run_trial(str(tmp_path / "trial"), gin_bindings=bindings)["state"] == "diverged"


def test_unlabelled_data_with_a_conditional_config_is_one_clear_error(tmp_path):
    images = np.zeros((8, 4, 4, 1), np.uint8)
    np.savez(tmp_path / "train.npz", images=images)
    bindings = ["trial.dataset = 'npz'", f"trial.data_dir = '{tmp_path}'", "trial.architecture = 'dcgan'",
                "trial.d_conditioning = 'projection'", "trial.train_steps = 1"]
    with pytest.raises(ValueError, match="has no class labels.*trial.d_conditioning = 'projection'"):
        run_trial(str(tmp_path / "trial"), gin_bindings=bindings)
    assert not os.path.exists(tmp_path / "trial" / "ckpt")


@pytest.mark.parametrize("bindings, message", [
    (["trial.pack = 2", "trial.g_conditioning = 'cbn'"], "trial.pack = 2 cannot be combined"),
    (["trial.pack = 2", "trial.self_supervision = 'rotation'"], "trial.pack = 2 cannot be combined"),
    (["trial.metrics = ['intra_fid']"], "needs a class-conditional generator"),
    (["trial.self_supervision = 'rotation'", "trial.batch_size = 2"], "batch_size must be >= 4"),
    (["trial.g_conditioning = 'projection'"], "is not one of none, concat, cbn, self_mod"),
    (["trial.ac_weight = -1.0"], "trial.ac_weight must be >= 0"),
])
def test_conditional_keys_are_checked_before_compute(bindings, message):
    with pytest.raises(ValueError, match=message):
        config.parse_config([], bindings)


def test_image_folder_sub_folders_are_classes(tmp_path):
    from PIL import Image
    for label, name in enumerate(["cat", "dog"]):
        os.makedirs(tmp_path / "train" / name)
        for i in range(2 + label):
            Image.fromarray(np.full((4, 4, 3), 100 * label, np.uint8)).save(tmp_path / "train" / name / f"{i}.png")
    dataset = data.load("image_folder", "train", str(tmp_path))
    assert dataset.num_classes == 2 and dataset.class_names == ["cat", "dog"]
    labels = dataset.labels(np.arange(5))
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(dataset.get(np.arange(5))[:, 0, 0, 0] > -0.5, labels == 1)


def test_cifar100_binary_gives_the_fine_labels(tmp_path):
    rng = np.random.default_rng(0)
    coarse, fine = rng.integers(0, 20, 6), rng.integers(0, 100, 6)
    pixels = rng.integers(0, 256, (6, 3072))
    records = np.concatenate([coarse[:, None], fine[:, None], pixels], axis=1).astype(np.uint8)
    os.makedirs(tmp_path / "cifar-100-binary")
    records.tofile(tmp_path / "cifar-100-binary" / "test.bin")
    dataset = data.load("cifar100", "test", str(tmp_path))
    assert dataset.num_classes == 100 and dataset.shape == (32, 32, 3)
    np.testing.assert_array_equal(dataset.labels(np.arange(6)), fine)
    red = pixels[:, :1024].reshape(6, 32, 32)
    np.testing.assert_allclose(dataset.get(np.arange(6))[..., 0], (red - 127.5) / 127.5, atol=1e-6)
    records[0, 1] = 150
    records.tofile(tmp_path / "cifar-100-binary" / "test.bin")
    with pytest.raises(ValueError, match="not a CIFAR-100 binary file"):
        files.read_cifar100_bin(str(tmp_path / "cifar-100-binary" / "test.bin"))


def test_npz_labels_under_y_or_labels(tmp_path):
    images = np.zeros((5, 4, 4, 1), np.uint8)
    np.savez(tmp_path / "train.npz", images=images, labels=np.array([0, 2, 1, 2, 0]))
    dataset = data.load("npz", "train", str(tmp_path))
    assert dataset.num_classes == 3
    np.testing.assert_array_equal(dataset.labels(np.arange(5)), [0, 2, 1, 2, 0])


def test_celeb_a_attribute_as_label_is_checked():
    assert tfds_data.celeb_a_label_attribute("Male") == "Male"
    with pytest.raises(ValueError, match="celeb_a.label_attribute = 'male' is not a CelebA attribute"):
        tfds_data.celeb_a_label_attribute("male")
    assert len(tfds_data.CELEB_A_ATTRIBUTES) == 40


def np_fid(a, b):
    """FID from scipy's matrix square root, in float64."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def test_intra_fid_is_the_mean_of_scipy_fids_per_class():
    rng = np.random.default_rng(0)
    real_labels, fake_labels = rng.integers(0, 3, 90), np.arange(60) % 3
    real = rng.normal(size=(90, 5)) + real_labels[:, None]
    fake = rng.normal(size=(60, 5)) * 1.3 + 0.5 * fake_labels[:, None]
    mean, per_class = intra_fid(real, real_labels, fake, fake_labels)
    expected = {c: np_fid(real[real_labels == c], fake[fake_labels == c]) for c in range(3)}
    assert sorted(per_class) == [0, 1, 2]
    for c in range(3):
        assert per_class[c] == pytest.approx(expected[c], rel=1e-6)
    assert mean == pytest.approx(np.mean(list(expected.values())), rel=1e-6)
    with pytest.raises(ValueError, match="class 3 has 0 real"):
        intra_fid(real, real_labels, fake, np.where(fake_labels == 0, 3, fake_labels))


def test_intra_fid_metric_records_per_class_values_and_its_protocol():
    from gan_bench.metrics import evaluate as ev
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    real_labels, fake_labels = np.arange(40) % 2, np.arange(40) % 2
    row = ev.evaluate(["intra_fid"], ev.EvalContext(real=real, fake=fake, real_labels=real_labels,
                                                   fake_labels=fake_labels))
    assert row["intra_fid_class_0"] == pytest.approx(np_fid(real[::2], fake[::2]), rel=1e-6)
    assert row["intra_fid"] == pytest.approx((row["intra_fid_class_0"] + row["intra_fid_class_1"]) / 2)
    assert row["intra_fid_protocol"]["features"] == "raw"
    json.dumps(row)


def test_the_convolution_choice_times_conditional_nets_with_labels(tmp_path):
    """'auto' measured (as on an accelerator) on nets that need labels: they get labels i mod C."""
    from gan_bench import nets
    import optax
    from conditional_nets import LinearD, LinearG, model as make_model
    model = make_model(LinearG((4, 4, 1), 3), LinearD(3), (4, 4, 1), 3, g_tx=optax.sgd(0.1), d_tx=optax.sgd(0.1))
    choice = nets.choose_conv_impl("auto", lambda conv: engine_module.with_timing_labels(model), (8, 4),
                                   (16, 4, 4, 1), fixed_auto={}, cache_dir=str(tmp_path))
    assert choice.chosen in ("xla", "cpu_tuned")


def test_tfds_labels_from_label_or_a_celeb_a_attribute():
    images = [np.full((4, 4, 3), 10 * i, np.uint8) for i in range(3)]
    source = [{"image": im, "label": 7 - i, "attributes": {"Male": i == 1, "Smiling": i != 1}}
              for i, im in enumerate(images)]
    by_label = tfds_data.TfdsDataset("cifar100", source, (4, 4, 3), 100, None)
    np.testing.assert_array_equal(by_label.labels(np.arange(3)), [7, 6, 5])
    by_attribute = tfds_data.TfdsDataset("celeb_a", source, (4, 4, 3), None, None, label_attribute="Male")
    assert by_attribute.num_classes == 2
    np.testing.assert_array_equal(by_attribute.labels(np.arange(3)), [0, 1, 0])
    assert tfds_data.TfdsDataset("celeb_a", source, (4, 4, 3), None, None).labels(np.arange(3)) is None


def test_batch_statistics_samples_of_a_conditional_g_are_its_training_mode_outputs(tmp_path):
    """trial.g_bn_eval = 'batch' with a cBN generator: the samples equal G in training mode on the same latents
    and classes; 'standing' runs with labels too."""
    from gan_bench import nets
    from gan_bench.gan.state import hparams_of, init_state
    from gan_bench.train.evaluation import Evaluator
    label_painted_npz(tmp_path / "train.npz")
    bindings = ["trial.dataset = 'npz'", f"trial.data_dir = '{tmp_path}'", "trial.architecture = 'mlp'",
                "trial.g_conditioning = 'cbn'", "trial.g_norm = 'batch'", "trial.g_bn_eval = 'batch'",
                "trial.z_dim = 4"]
    cfg = config.parse_config([], bindings)
    dataset = data.load("npz", "train", str(tmp_path))
    model = engine_module.build_model(cfg, dataset, conv=nets.conv_impl("xla"))
    state = init_state(model, 0, hparams_of(cfg))
    evaluator = Evaluator(cfg, model, dataset)
    samples = evaluator.samples(cfg, state, 40)
    z = model.sample_z(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 0xE7A1), 40, truncated=True)
    labels = np.arange(40, dtype=np.int32) % CLASSES
    expected = model.generate(state.g.params, state.g.norm_collections, z, train=True, y=jnp.asarray(labels))[0]
    np.testing.assert_allclose(samples, expected, rtol=1e-5, atol=1e-6)
    standing = Evaluator(dataclasses.replace(cfg, g_bn_eval="standing"), model, dataset)
    assert np.all(np.isfinite(standing.samples(dataclasses.replace(cfg, g_bn_eval="standing"), state, 40)))
