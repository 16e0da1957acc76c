"""SAGAN (Zhang et al. 2019): the SNGAN ResNets (Miyato et al. 2018; Miyato & Koyama 2018) with one
self-attention block and spectral norm in G and D, written with the nets of `big_resnet`.

- 128x128: the SAGAN baseline of BigGAN's table 1 (Brock et al. 2019: batch 256, ch 64, no shared embedding;
  81.5M parameters in G and D together with 1000 classes): G_ch = D_ch = 64, per-class cBN tables, attention at
  64x64 (BigGAN-PyTorch `scripts/launch_SAGAN_bs128x4_ema.sh`: `--G_attn 64 --D_attn 64`).
- 32x32: the SNGAN CIFAR-10 ResNet (G 256 channels, D 128: G_ch 64, D_ch 32 in BigGAN's multipliers) with
  attention at 16x16, after G's second block and D's first (PyTorch-StudioGAN's CIFAR-10 SAGAN:
  attn_g_loc [2], attn_d_loc [1]).
gin keys as `biggan`'s, under `sagan.` (`sagan.attention_resolution`, `sagan.g_ch`, ...).
"""
from gan_bench.nets.base import BuildArgs, architecture
from gan_bench.nets.big_resnet import build_pair

SAGAN_128 = dict(g_ch=64, d_ch=64, shared_dim=0, hierarchical_z=False, attention_resolution=64,
                 g_spectral_norm=True)
SAGAN_32 = dict(g_ch=64, d_ch=32, shared_dim=0, hierarchical_z=False, attention_resolution=16,
                g_spectral_norm=True)
DEFAULTS = {32: SAGAN_32, 64: dict(SAGAN_128, attention_resolution=32), None: SAGAN_128}


@architecture("sagan", images=True)
def sagan(args: BuildArgs, g_ch=None, d_ch=None, shared_dim=None, hierarchical_z=None, attention_resolution=None,
          g_spectral_norm=None):
    """The (G, D) pair for 32, 64, 128 or 256 pixel square images; see the module docstring for the keys."""
    return build_pair("sagan", args, DEFAULTS, g_ch=g_ch, d_ch=d_ch, shared_dim=shared_dim,
                      hierarchical_z=hierarchical_z, attention_resolution=attention_resolution,
                      g_spectral_norm=g_spectral_norm)
