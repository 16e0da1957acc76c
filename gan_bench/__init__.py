"""gan_bench: one gin config -> data-parallel GAN training -> metrics -> study tables."""

__version__ = "0.1.0"
