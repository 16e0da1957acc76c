"""BigGAN (Brock et al. 2019): the nets of `big_resnet` with the widths and conditioning of the authors' code
(BigGAN-PyTorch `BigGAN.py`, launch scripts) for 32x32 and 128x128 images; 64x64 and 256x256 take the 128x128
settings with their own layer lists.

- 128x128 (`scripts/launch_BigGAN_bs256x8.sh`): G_ch = D_ch = 96, a shared class embedding of 128 dimensions,
  hierarchical z (z_dim 120 = 6 chunks of 20), self-attention at 64x64 in G and D. 70,433,988 parameters in G
  and 87,982,370 in D with 1000 classes (compare_gan `architectures/resnet_biggan.py`, the paper's 70.4M/88.0M).
- 32x32 (the CIFAR-10 scripts, e.g. mit-han-lab/data-efficient-gans `DiffAugment-biggan-cifar/scripts/
  biggan-cifar10.sh` on BigGAN-PyTorch's defaults): G_ch = D_ch = 64 (256 channels in every block), per-class
  cBN tables (no shared embedding, no hierarchical z), no attention.

Spectral norm in G (`biggan.g_spectral_norm`) and, through d_norm = 'spectral', in D; D's class conditioning
is the trial's (BigGAN: 'projection'), G's as well (BigGAN: 'cbn'). Hierarchical z applies under 'cbn' with a
shared embedding only: otherwise the whole z feeds G's first layer. gin keys (None: the size's default):
`biggan.g_ch`, `biggan.d_ch`, `biggan.shared_dim` (0: per-class tables), `biggan.hierarchical_z`,
`biggan.attention_resolution` (0: none), `biggan.g_spectral_norm`. Orthogonal initialization is
`weight_init.initializer = 'orthogonal'`; orthogonal regularization, EMA and truncation live outside the nets.
"""
from gan_bench.nets.base import BuildArgs, architecture
from gan_bench.nets.big_resnet import build_pair

BIGGAN_128 = dict(g_ch=96, d_ch=96, shared_dim=128, hierarchical_z=True, attention_resolution=64,
                  g_spectral_norm=True)
BIGGAN_32 = dict(g_ch=64, d_ch=64, shared_dim=0, hierarchical_z=False, attention_resolution=0,
                 g_spectral_norm=True)
DEFAULTS = {32: BIGGAN_32, None: BIGGAN_128}


@architecture("biggan", images=True)
def biggan(args: BuildArgs, g_ch=None, d_ch=None, shared_dim=None, hierarchical_z=None, attention_resolution=None,
           g_spectral_norm=None):
    """The (G, D) pair for 32, 64, 128 or 256 pixel square images; see the module docstring for the keys."""
    return build_pair("biggan", args, DEFAULTS, g_ch=g_ch, d_ch=d_ch, shared_dim=shared_dim,
                      hierarchical_z=hierarchical_z, attention_resolution=attention_resolution,
                      g_spectral_norm=g_spectral_norm)
