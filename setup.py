"""gan_bench: a JAX/Flax harness for large-scale GAN studies."""
from setuptools import find_packages, setup

setup(
    name="gan_bench",
    version="0.1.0",
    description="JAX/Flax harness for large-scale GAN studies (losses, penalties, "
    "normalizations, architectures, metrics, sweeps, reports).",
    python_requires=">=3.11",
    packages=find_packages(include=["gan_bench", "gan_bench.*"]),
    package_data={"gan_bench": ["py.typed"]},
    install_requires=[
        "jax>=0.9",
        "flax>=0.12",
        "optax>=0.2.5",
        "gin-config>=0.5",
        "absl-py",
        "numpy",
        "scipy",
        "pandas",
        "matplotlib",
        "pillow",
        "tensorboardX",
        "tqdm",
        "tabulate",
        "msgpack",  # checkpoint checks parse checkpoints without starting JAX (flax's own format)
    ],
    extras_require={
        "test": ["pytest", "prdc", "scikit-learn", "tensorflow-datasets", "importlib_resources"],
        "tfds": ["tensorflow-datasets", "importlib_resources"],
        "ray": ["ray"],
        "slurm": ["submitit"],
        "bench": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["gan-bench=gan_bench.cli:main"]},
)
