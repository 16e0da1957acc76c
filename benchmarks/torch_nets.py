"""PyTorch reference networks and train step, the baseline that `bench_train_step.py` times gan_bench against.

The layers follow google/compare_gan `architectures/` (the same sources `gan_bench/nets/` implements), written
the way a PyTorch user would write them (NCHW, `nn.ConvTranspose2d`, `spectral_norm` parametrization), so the
comparison is "the same network in each framework's idiomatic form":

- `dcgan` (compare_gan `dcgan.py`, Radford et al. 2016): G linear z -> 2x2x512, then four 5x5 stride-2
  transposed convs 512 -> 256 -> 128 -> 64 -> C, BN + ReLU between, tanh. D four 5x5 stride-2 convs
  C -> 64 -> 128 -> 256 -> 512 with leaky ReLU 0.2 (normalization after convs 2-4), linear 2048 -> 1.
- `sndcgan` (compare_gan `sndcgan.py`, Miyato et al. 2018 table 3): G linear z -> 4x4x512 (+BN, ReLU), three
  4x4 stride-2 transposed convs 512 -> 256 -> 128 -> 64 (BN, ReLU), a 3x3 stride-1 one 64 -> C, tanh.
  D seven convs (3x3 s1 64, 4x4 s2 128, 3x3 128, 4x4 s2 256, 3x3 256, 4x4 s2 512, 3x3 512), leaky ReLU 0.1,
  linear 4*4*512 -> 1.
- `resnet_cifar` (compare_gan `resnet_cifar.py` / `resnet_ops.py`, Miyato et al. 2018 table 4): G linear
  z -> 4x4x256, three "up" blocks 256 -> 256, BN, ReLU, 3x3 conv -> C, tanh. D blocks 3 -> 128 (down),
  128 -> 128 (down), two 128 -> 128; ReLU, global mean, linear 128 -> 1. Every block has a 3x3 conv shortcut
  (compare_gan's `conv_shortcut`); "up" is zero-insertion unpooling before the conv, "down" 2x2 average
  pooling after it.

Shapes: G(z [B, z_dim]) -> [B, C, H, W]; D(x [B, C, H, W]) -> logits [B]. Only H = W = 32 is needed here.
"""
import torch
import torch.nn.functional as F
from torch import nn


def _d_layer(layer: nn.Module, d_norm: str) -> nn.Module:
    """Spectral norm (Miyato et al. 2018: one power iteration per training forward) wraps the weight."""
    return nn.utils.parametrizations.spectral_norm(layer) if d_norm == "spectral" else layer


def _bn(channels: int, dims: int = 2) -> nn.Module:
    """compare_gan `batch_norm`: epsilon 1e-3, moving-average decay 0.999 (torch momentum 0.001)."""
    return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(channels, eps=1e-3, momentum=0.001)


def _d_bn(channels: int, d_norm: str) -> nn.Module:
    return _bn(channels) if d_norm == "batch" else nn.Identity()


def _g_bn(channels: int, g_norm: str, dims: int = 2) -> nn.Module:
    return _bn(channels, dims) if g_norm == "batch" else nn.Identity()


def _check_norms(d_norm: str, g_norm: str) -> None:
    if d_norm not in ("none", "batch", "spectral"):
        raise ValueError(f"torch_nets: d_norm must be none, batch or spectral, got {d_norm!r}")
    if g_norm not in ("none", "batch"):
        raise ValueError(f"torch_nets: g_norm must be none or batch, got {g_norm!r}")


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int = 3, g_norm: str = "batch"):
        super().__init__()
        self.fc = nn.Linear(z_dim, 2 * 2 * 512)
        self.bn0 = _g_bn(512, g_norm)
        layers = []
        widths = [512, 256, 128, 64]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 5, 2, padding=2, output_padding=1),
                       _g_bn(c_out, g_norm), nn.ReLU()]
        layers += [nn.ConvTranspose2d(64, channels, 5, 2, padding=2, output_padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        x = self.fc(z).view(-1, 512, 2, 2)
        return self.body(F.relu(self.bn0(x)))


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, d_norm: str = "none"):
        super().__init__()
        conv = lambda c_in, c_out: _d_layer(nn.Conv2d(c_in, c_out, 5, 2, padding=2), d_norm)
        self.body = nn.Sequential(
            conv(channels, 64), nn.LeakyReLU(0.2),
            conv(64, 128), _d_bn(128, d_norm), nn.LeakyReLU(0.2),
            conv(128, 256), _d_bn(256, d_norm), nn.LeakyReLU(0.2),
            conv(256, 512), _d_bn(512, d_norm), nn.LeakyReLU(0.2))
        self.fc = _d_layer(nn.Linear(2 * 2 * 512, 1), d_norm)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))[:, 0]


class SNDCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int = 3, g_norm: str = "batch"):
        super().__init__()
        self.fc = nn.Linear(z_dim, 4 * 4 * 512)
        self.bn0 = _g_bn(4 * 4 * 512, g_norm, dims=1)  # compare_gan normalizes the linear output, then reshapes
        layers = []
        widths = [512, 256, 128, 64]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, padding=1), _g_bn(c_out, g_norm), nn.ReLU()]
        layers += [nn.ConvTranspose2d(64, channels, 3, 1, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(F.relu(self.bn0(self.fc(z))).view(-1, 512, 4, 4))


class SNDCGANDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, d_norm: str = "spectral"):
        super().__init__()
        spec = [(channels, 64, 3, 1), (64, 128, 4, 2), (128, 128, 3, 1), (128, 256, 4, 2), (256, 256, 3, 1),
                (256, 512, 4, 2), (512, 512, 3, 1)]
        layers = []
        for i, (c_in, c_out, k, s) in enumerate(spec):
            # 'SAME' padding: k=3 s=1 -> pad 1; k=4 s=2 -> pad 1 (output exactly H/2). As gan_bench, batch
            # norm (when chosen) follows every conv but the first, the placement of the DCGAN D.
            layers += [_d_layer(nn.Conv2d(c_in, c_out, k, s, padding=1), d_norm),
                       _d_bn(c_out, d_norm) if i else nn.Identity(), nn.LeakyReLU(0.1)]
        self.body = nn.Sequential(*layers)
        self.fc = _d_layer(nn.Linear(4 * 4 * 512, 1), d_norm)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))[:, 0]


def unpool(x):
    """Zero-insertion 2x unpooling (compare_gan `resnet_ops.unpool`): x at even positions, zeros elsewhere."""
    b, c, h, w = x.shape
    out = x.new_zeros(b, c, 2 * h, 2 * w)
    out[:, :, ::2, ::2] = x
    return out


class ResBlock(nn.Module):
    """compare_gan `ResNetBlock`: shortcut conv; norm, ReLU, conv, norm, ReLU, conv; sum.

    G blocks ("up") unpool before the shortcut conv and the first conv; D blocks ("down") average-pool after
    the shortcut conv and the second conv.
    """

    def __init__(self, c_in, c_out, scale, norm):
        super().__init__()
        self.scale = scale
        self.shortcut, self.conv1, self.conv2 = (norm["layer"](nn.Conv2d(a, c_out, 3, 1, 1))
                                                 for a in (c_in, c_in, c_out))
        self.bn1, self.bn2 = norm["bn"](c_in), norm["bn"](c_out)

    def forward(self, x):
        up = unpool if self.scale == "up" else (lambda t: t)
        down = (lambda t: F.avg_pool2d(t, 2)) if self.scale == "down" else (lambda t: t)
        shortcut = down(self.shortcut(up(x)))
        h = self.conv1(up(F.relu(self.bn1(x))))
        h = down(self.conv2(F.relu(self.bn2(h))))
        return h + shortcut


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int = 3, g_norm: str = "batch"):
        super().__init__()
        norm = {"layer": lambda l: l, "bn": lambda c: _g_bn(c, g_norm)}
        self.fc = nn.Linear(z_dim, 4 * 4 * 256)
        self.blocks = nn.Sequential(*[ResBlock(256, 256, "up", norm) for _ in range(3)])
        self.bn = _g_bn(256, g_norm)
        self.out = nn.Conv2d(256, channels, 3, 1, 1)

    def forward(self, z):
        h = self.blocks(self.fc(z).view(-1, 256, 4, 4))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class ResNetDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, d_norm: str = "spectral"):
        super().__init__()
        norm = {"layer": lambda l: _d_layer(l, d_norm), "bn": lambda c: _d_bn(c, d_norm)}
        self.blocks = nn.Sequential(ResBlock(channels, 128, "down", norm), ResBlock(128, 128, "down", norm),
                                    ResBlock(128, 128, "none", norm), ResBlock(128, 128, "none", norm))
        self.fc = _d_layer(nn.Linear(128, 1), d_norm)

    def forward(self, x):
        h = F.relu(self.blocks(x)).mean(dim=(2, 3))
        return self.fc(h)[:, 0]


FAMILIES = {
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "sndcgan": (SNDCGANGenerator, SNDCGANDiscriminator),
    "resnet_cifar": (ResNetGenerator, ResNetDiscriminator),
}


def build(name: str, *, z_dim: int, channels: int = 3, d_norm: str = "none", g_norm: str = "batch"):
    """(G, D) of family `name` for 32x32 images with `channels` colors."""
    if name not in FAMILIES:
        raise ValueError(f"torch_nets: unknown network {name!r}; known: {', '.join(sorted(FAMILIES))}")
    _check_norms(d_norm, g_norm)
    g_cls, d_cls = FAMILIES[name]
    return g_cls(z_dim, channels, g_norm), d_cls(channels, d_norm)


def torch_device(name: str = "auto") -> torch.device:
    """`auto`: the first CUDA GPU when PyTorch sees one, else the CPU; otherwise a torch device name."""
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a wall-clock time covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_params(module: nn.Module) -> int:
    """Trainable parameters (spectral norm's `u`, `v` and BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters())


class TorchGANStep:
    """The work of gan_bench's `train_step` in PyTorch: `n_disc` D updates, then one G update.

    As in gan_bench (and compare_gan), D sees real and fake in one concatenated batch in both updates; the
    loss is the non-saturating GAN loss (Goodfellow et al. 2014); Adam for both; the G EMA is updated after
    every G step. D's parameters are frozen during the G backward pass (PyTorch would otherwise compute D
    weight gradients that nobody uses; XLA drops them by dead-code elimination).
    `step(real)`: real [n_disc, B, C, H, W], on the device of the nets.
    """

    def __init__(self, g: nn.Module, d: nn.Module, z_dim: int, lr=2e-4, betas=(0.5, 0.999), ema_decay=0.0):
        self.g, self.d, self.z_dim, self.ema_decay = g.train(), d.train(), z_dim, ema_decay
        self.opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
        self.ema = [p.detach().clone() for p in g.parameters()]

    def _d_update(self, real):
        with torch.no_grad():
            fake = self.g(torch.randn(real.shape[0], self.z_dim, device=real.device))
        real_logits, fake_logits = self.d(torch.cat([real, fake])).chunk(2)
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss

    def _g_update(self, real):
        self.d.requires_grad_(False)
        fake = self.g(torch.randn(real.shape[0], self.z_dim, device=real.device))
        _, fake_logits = self.d(torch.cat([real, fake])).chunk(2)
        g_loss = F.softplus(-fake_logits).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, [p.detach() for p in self.g.parameters()], 1.0 - self.ema_decay)
        return g_loss

    def step(self, real):
        if real.dim() != 5:
            raise ValueError(f"TorchGANStep.step: real must be [n_disc, B, C, H, W], got {tuple(real.shape)}")
        d_losses = [self._d_update(real[i]) for i in range(real.shape[0])]
        g_loss = self._g_update(real[-1])
        return float(torch.stack(d_losses).mean().detach()), float(g_loss.detach())
