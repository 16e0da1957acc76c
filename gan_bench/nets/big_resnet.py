"""The residual G and D of BigGAN (Brock et al. 2019) and SAGAN (Zhang et al. 2019), as BigGAN-PyTorch
`BigGAN.py` (G_arch / D_arch) and `layers.py` (GBlock, DBlock, ccbn, Attention) write them; the `biggan` and
`sagan` families (`biggan.py`, `sagan.py`) differ only in their widths and conditioning defaults.

G: z -> linear to 4x4 x c0 -> blocks, each up 2x: BN(c), ReLU, nearest-neighbour up-sampling, conv 3x3,
BN(c), ReLU, conv 3x3, plus a 1x1-conv shortcut of the up-sampled input (computed before the up-sampling, the
same map: both are per-pixel) -> unconditional BN, ReLU, conv 3x3 to the image channels -> tanh. The blocks'
batch norms take G's conditioning; under 'cbn' with a shared embedding (`shared_dim > 0`) they are BigGAN's
linear cBN of [embed(y), z_i], where z is split into one chunk per block plus the first linear layer's
(hierarchical z), or of embed(y) alone; with `shared_dim = 0` they use per-class gain and bias tables.
D: blocks (conv 3x3, ReLU, conv 3x3, 2x2 average pooling where the block goes down; every block but the first
starts with a ReLU; a 1x1-conv shortcut where the channels change or the block goes down, pooled before the
conv in the first block and after it in the others) -> ReLU -> sum over H, W -> linear to the logit
(+ projection). With d_norm batch or layer, the normalization precedes each ReLU of a block (BigGAN's D has
none). One self-attention block (`attention.SelfAttention`) follows the first block of each net whose output
has `attention_resolution` pixels a side (0: none).
"""
from typing import Dict, Tuple

import jax.numpy as jnp
from flax import linen as nn

from gan_bench.checks import is_whole
from gan_bench.nets.attention import SelfAttention
from gan_bench.nets.base import BuildArgs, Discriminator, Generator, Net, check_positive
from gan_bench.nets.conditioning import ClassEmbedding, Condition, conditional_normalization
from gan_bench.nets.layers import weight_init

SEED_SIZE = 4  # G's first feature map is 4x4 (BigGAN-PyTorch bottom_width)
# Channel multipliers of the width `ch`, by image size: G's [seed, block outputs...] (G_arch: in_channels +
# the last out_channels) and D's block outputs with the blocks that go down (D_arch).
G_MULTIPLIERS = {32: (4, 4, 4, 4), 64: (16, 16, 8, 4, 2), 128: (16, 16, 8, 4, 2, 1),
                 256: (16, 16, 8, 8, 4, 2, 1)}
D_MULTIPLIERS = {32: (4, 4, 4, 4), 64: (1, 2, 4, 8, 16), 128: (1, 2, 4, 8, 16, 16), 256: (1, 2, 4, 8, 8, 16, 16)}
D_DOWNSAMPLE = {32: (True, True, False, False), 64: (True,) * 4 + (False,), 128: (True,) * 5 + (False,),
                256: (True,) * 6 + (False,)}
KEYS = ("g_ch", "d_ch", "shared_dim", "hierarchical_z", "attention_resolution", "g_spectral_norm")


def upsample_nearest(x):
    """[B, H, W, C] -> [B, 2H, 2W, C], each pixel repeated over a 2x2 cell (F.interpolate(scale_factor=2))."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool_2x2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class GeneratorBlock(Net):
    """x [B, H, W, C] -> [B, 2H, 2W, width]; normalizations under `conditioning` (`Condition` per call)."""

    conditioning: str
    num_classes: int

    @nn.compact
    def __call__(self, x, train: bool, cond: Condition):
        h = nn.relu(conditional_normalization(self, x, train, "bn1", cond))
        h = self.conv2d(self.width, 3, 1, "conv1")(upsample_nearest(h), train)
        h = nn.relu(conditional_normalization(self, h, train, "bn2", cond))
        h = self.conv2d(self.width, 3, 1, "conv2")(h, train)
        return h + upsample_nearest(self.conv2d(self.width, 1, 1, "conv_sc")(x, train))


class DiscriminatorBlock(Net):
    """x [B, H, W, C] -> [B, H', W', width], H' = H/2 when `downsample`; `preactivation`: a ReLU first."""

    downsample: bool
    preactivation: bool

    @nn.compact
    def __call__(self, x, train: bool):
        h = nn.relu(self.normalization("norm1")(x, train)) if self.preactivation else x
        h = self.conv2d(self.width, 3, 1, "conv1")(h, train)
        h = self.conv2d(self.width, 3, 1, "conv2")(nn.relu(self.normalization("norm2")(h, train)), train)
        if self.downsample:
            h = avg_pool_2x2(h)
        if x.shape[-1] == self.width and not self.downsample:
            return h + x
        if self.preactivation:
            shortcut = self.conv2d(self.width, 1, 1, "conv_sc")(x, train)
            return h + (avg_pool_2x2(shortcut) if self.downsample else shortcut)
        return h + self.conv2d(self.width, 1, 1, "conv_sc")(avg_pool_2x2(x) if self.downsample else x, train)


class BigResNetGenerator(Generator):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1], H = W = 4 * 2^(len(channels) - 1)."""

    channels: Tuple[int, ...]  # the 4x4 seed's channels, then each block's output channels
    attention_resolution: int
    shared_dim: int  # BigGAN's shared class embedding under 'cbn'; 0: per-class cBN tables
    hierarchical_z: bool

    def block_inputs(self, z_in, cond: Condition, train: bool):
        """(input of the first linear layer, one `Condition` per block)."""
        blocks = len(self.channels) - 1
        if self.conditioning != "cbn" or not self.shared_dim:
            return z_in, [cond] * blocks
        embedding = ClassEmbedding(self.num_classes, self.shared_dim, "none", self.kernel_init,
                                   name="shared")(cond.y, train)
        if not self.hierarchical_z:
            return z_in, [cond._replace(c=embedding)] * blocks
        if z_in.shape[-1] % (blocks + 1):
            raise ValueError(f"hierarchical z splits z into {blocks + 1} equal chunks; z_dim = {z_in.shape[-1]} "
                             f"is not a multiple of {blocks + 1}")
        chunks = jnp.split(z_in, blocks + 1, axis=-1)
        return chunks[0], [cond._replace(c=jnp.concatenate([embedding, zi], axis=-1)) for zi in chunks[1:]]

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        z_in, cond = self.inputs(z, y)
        z0, per_block = self.block_inputs(z_in, cond, train)
        x = self.dense(SEED_SIZE * SEED_SIZE * self.channels[0], "fc_noise")(z0, train)
        x = x.reshape(z.shape[0], SEED_SIZE, SEED_SIZE, self.channels[0])
        attended = False
        for i, width in enumerate(self.channels[1:]):
            x = self.part(GeneratorBlock, f"B{i + 1}", width=width, conditioning=self.conditioning,
                          num_classes=self.num_classes)(x, train, per_block[i])
            if x.shape[1] == self.attention_resolution and not attended:
                x = SelfAttention(self.weight_norm, self.kernel_init, name="attention")(x, train)
                attended = True
        x = nn.relu(self.normalization("final_norm")(x, train))
        return jnp.tanh(self.conv2d(self.data_shape[-1], 3, 1, "final_conv")(x, train))


class BigResNetDiscriminator(Discriminator):
    """images [B, H, W, C'] -> logits [B]; phi(x) is the sum over positions of the last block's ReLU."""

    channels: Tuple[int, ...]  # each block's output channels
    downsample: Tuple[bool, ...]
    attention_resolution: int

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        x = self.inputs(x, y)
        attended = False
        for i, (width, down) in enumerate(zip(self.channels, self.downsample)):
            x = self.part(DiscriminatorBlock, f"B{i + 1}", width=width, downsample=down, preactivation=i > 0)(
                x, train)
            if x.shape[1] == self.attention_resolution and not attended:
                x = SelfAttention(self.weight_norm, self.kernel_init, name="attention")(x, train)
                attended = True
        return self.logits(jnp.sum(nn.relu(x), axis=(1, 2)), train, "final_fc", y)


def resolutions(size: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """(sizes of G's block outputs, sizes of D's block outputs) for `size` x `size` images."""
    g_sizes = tuple(SEED_SIZE * 2 ** (i + 1) for i in range(len(G_MULTIPLIERS[size]) - 1))
    d_sizes, current = [], size
    for down in D_DOWNSAMPLE[size]:
        current = current // 2 if down else current
        d_sizes.append(current)
    return g_sizes, tuple(d_sizes)


def _resolved(family: str, defaults: Dict[str, object], values: Dict[str, object]) -> Dict[str, object]:
    """`values` with None replaced by `defaults`, each checked (ValueError naming `family.key`)."""
    out = {key: defaults[key] if values[key] is None else values[key] for key in KEYS}
    check_positive(family, g_ch=out["g_ch"], d_ch=out["d_ch"])
    for key in ("shared_dim", "attention_resolution"):
        if not is_whole(out[key]) or out[key] < 0:
            raise ValueError(f"{family}.{key} = {out[key]!r}; expected an integer >= 0 (0: none)")
    for key in ("hierarchical_z", "g_spectral_norm"):
        if not isinstance(out[key], bool):
            raise ValueError(f"{family}.{key} = {out[key]!r}; expected True or False")
    return out


def _check_attention_width(family: str, cfg: Dict[str, object], size: int) -> None:
    """The attention block needs channels divisible by 8 (C/8 for theta and phi) where it sits."""
    g_sizes, d_sizes = resolutions(size)
    where = [("g_ch", cfg["g_ch"] * m) for s, m in zip(g_sizes, G_MULTIPLIERS[size][1:])
             if s == cfg["attention_resolution"]][:1]
    where += [("d_ch", cfg["d_ch"] * m) for s, m in zip(d_sizes, D_MULTIPLIERS[size])
              if s == cfg["attention_resolution"]][:1]
    for key, channels in where:
        if channels % 8:
            raise ValueError(f"{family}.{key} = {cfg[key]} gives {channels} channels at the attention block "
                             f"({cfg['attention_resolution']}x{cfg['attention_resolution']}); it needs a multiple "
                             f"of 8")


def build_pair(family: str, args: BuildArgs, defaults_by_size: Dict[int, Dict[str, object]], **values):
    """The (G, D) pair of `family` for args.data_shape; each None in `values` (the keys of `KEYS`) takes the
    family's default for the image size (`defaults_by_size`, whose key None holds the other sizes' defaults)."""
    height, width = args.data_shape[:2]
    if height != width or height not in G_MULTIPLIERS:
        raise ValueError(f"architecture {family!r} needs square images of size "
                         f"{', '.join(map(str, sorted(G_MULTIPLIERS)))}; got data_shape {tuple(args.data_shape)}")
    cfg = _resolved(family, defaults_by_size.get(height, defaults_by_size[None]), values)
    g_sizes, d_sizes = resolutions(height)
    if cfg["attention_resolution"] and cfg["attention_resolution"] not in g_sizes + d_sizes:
        raise ValueError(f"{family}.attention_resolution = {cfg['attention_resolution']}; expected 0 (none) or a "
                         f"feature-map size of G or D at {height}x{height}: "
                         f"{', '.join(map(str, sorted(set(g_sizes + d_sizes))))}")
    _check_attention_width(family, cfg, height)
    hierarchical = cfg["hierarchical_z"] and args.g_conditioning == "cbn" and cfg["shared_dim"] > 0
    chunks = len(G_MULTIPLIERS[height])
    if hierarchical and args.z_dim % chunks:
        raise ValueError(f"{family}.hierarchical_z splits z into {chunks} equal chunks at {height}x{height}; "
                         f"z_dim = {args.z_dim} is not a multiple of {chunks}")
    init = weight_init()
    generator = args.generator(
        BigResNetGenerator, width=cfg["g_ch"], kernel_init=init,
        weight_norm="spectral" if cfg["g_spectral_norm"] else "none",
        channels=tuple(cfg["g_ch"] * m for m in G_MULTIPLIERS[height]),
        attention_resolution=cfg["attention_resolution"], shared_dim=cfg["shared_dim"],
        hierarchical_z=hierarchical)
    discriminator = args.discriminator(
        BigResNetDiscriminator, width=cfg["d_ch"], kernel_init=init,
        channels=tuple(cfg["d_ch"] * m for m in D_MULTIPLIERS[height]), downsample=D_DOWNSAMPLE[height],
        attention_resolution=cfg["attention_resolution"])
    return generator, discriminator
