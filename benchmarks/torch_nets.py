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
- `biggan` (Brock et al. 2019; BigGAN-PyTorch `BigGAN.py` G_arch / D_arch [32] and `layers.py` GBlock, DBlock,
  ccbn, as gan_bench's `nets/big_resnet.py` builds them for 32x32 with `biggan.py`'s BIGGAN_32: G_ch = D_ch =
  64, class-conditional, spectral norm in G and D). G: SN linear z -> 4x4x256, three blocks 256 -> 256 (cBN,
  ReLU, nearest 2x up-sampling, SN conv 3x3, cBN, ReLU, SN conv 3x3, plus an SN 1x1-conv shortcut), BN, ReLU,
  SN conv 3x3 -> C, tanh. cBN: batch norm without affine, then per-class gain and bias tables (BigGAN-PyTorch's
  ccbn without a shared embedding: two nn.Embedding tables; the gain table starts at 1 here, as gan_bench's,
  where theirs adds 1 to a table that starts near 0). D: blocks 3 -> 256 (down), 256 -> 256 (down),
  256 -> 256, 256 -> 256 (conv 3x3, ReLU, conv 3x3, 2x2 average pooling where the block goes down; every block
  but the first starts with a ReLU; a 1x1-conv shortcut where the channels change or the block goes down,
  pooled before the conv in the first block and after it in the others), ReLU, sum over H and W, SN linear
  256 -> 1 plus the projection <embed(y), phi> with an SN embedding table (BigGAN-PyTorch `SNEmbedding`).
  4,304,387 parameters in G and 4,207,361 in D with 10 classes. The G shortcut's 1x1 conv runs before the
  up-sampling (the same map: both are per-pixel, and a quarter of the work), as gan_bench runs it;
  BigGAN-PyTorch up-samples first.

Shapes: G(z [B, z_dim]) -> [B, C, H, W]; D(x [B, C, H, W]) -> logits [B]; the conditional nets take labels y
[B] (int64) as a second argument, G(z, y) and D(x, y). Only H = W = 32 is needed here.
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


def _spectral(layer: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer)


class ClassConditionalBatchNorm(nn.Module):
    """x [B, C, H, W], y [B] -> BN(x) * gain[y] + bias[y]: batch norm without its own scale and offset, then
    per-class rows of a gain table (starts at 1) and a bias table (starts at 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.001, affine=False)
        self.gain, self.bias = nn.Embedding(num_classes, channels), nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x, y):
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class BigGANGeneratorBlock(nn.Module):
    """BigGAN-PyTorch `GBlock`: cBN, ReLU, up 2x, conv 3x3, cBN, ReLU, conv 3x3, plus the 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, num_classes: int):
        super().__init__()
        self.bn1, self.bn2 = ClassConditionalBatchNorm(c_in, num_classes), ClassConditionalBatchNorm(c_out, num_classes)
        self.conv1 = _spectral(nn.Conv2d(c_in, c_out, 3, 1, 1))
        self.conv2 = _spectral(nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.conv_sc = _spectral(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x, y):
        h = self.conv1(F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2))
        h = self.conv2(F.relu(self.bn2(h, y)))
        return h + F.interpolate(self.conv_sc(x), scale_factor=2)


class BigGANGenerator(nn.Module):
    """BigGAN's 32x32 G (G_arch[32], G_ch = `ch`): see the module docstring."""

    def __init__(self, z_dim: int, channels: int = 3, g_norm: str = "batch", num_classes: int = 10, ch: int = 64):
        super().__init__()
        if g_norm != "batch":
            raise ValueError(f"torch_nets: biggan's G normalizes with class-conditional batch norm; g_norm must "
                             f"be batch, got {g_norm!r}")
        self.width = 4 * ch
        self.fc = _spectral(nn.Linear(z_dim, 4 * 4 * self.width))
        self.blocks = nn.ModuleList(BigGANGeneratorBlock(self.width, self.width, num_classes) for _ in range(3))
        self.bn = _bn(self.width)
        self.out = _spectral(nn.Conv2d(self.width, channels, 3, 1, 1))

    def forward(self, z, y):
        h = self.fc(z).view(-1, self.width, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class BigGANDiscriminatorBlock(nn.Module):
    """BigGAN-PyTorch `DBlock` (wide): [ReLU,] conv 3x3, ReLU, conv 3x3, [avg pool 2x2,] plus the shortcut."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, preactivation: bool, layer):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1, self.conv2 = layer(nn.Conv2d(c_in, c_out, 3, 1, 1)), layer(nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.conv_sc = layer(nn.Conv2d(c_in, c_out, 1)) if c_in != c_out or downsample else None

    def _down(self, t):
        return F.avg_pool2d(t, 2) if self.downsample else t

    def forward(self, x):
        h = F.relu(x) if self.preactivation else x
        h = self._down(self.conv2(F.relu(self.conv1(h))))
        if self.conv_sc is None:
            return h + x
        if self.preactivation:
            return h + self._down(self.conv_sc(x))
        return h + self.conv_sc(self._down(x))


class BigGANDiscriminator(nn.Module):
    """BigGAN's 32x32 projection D (D_arch[32], D_ch = `ch`): see the module docstring."""

    def __init__(self, channels: int = 3, d_norm: str = "spectral", num_classes: int = 10, ch: int = 64):
        super().__init__()
        if d_norm not in ("spectral", "none"):
            raise ValueError(f"torch_nets: biggan's D takes d_norm spectral or none, got {d_norm!r}")
        layer = lambda l: _d_layer(l, d_norm)
        width = 4 * ch
        self.blocks = nn.Sequential(
            BigGANDiscriminatorBlock(channels, width, True, False, layer),
            BigGANDiscriminatorBlock(width, width, True, True, layer),
            BigGANDiscriminatorBlock(width, width, False, True, layer),
            BigGANDiscriminatorBlock(width, width, False, True, layer))
        self.fc = layer(nn.Linear(width, 1))
        self.embed = layer(nn.Embedding(num_classes, width))

    def forward(self, x, y):
        phi = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.fc(phi)[:, 0] + (self.embed(y) * phi).sum(dim=1)


FAMILIES = {
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "sndcgan": (SNDCGANGenerator, SNDCGANDiscriminator),
    "resnet_cifar": (ResNetGenerator, ResNetDiscriminator),
}
CONDITIONAL_FAMILIES = {"biggan": (BigGANGenerator, BigGANDiscriminator)}  # G(z, y), D(x, y)


def build(name: str, *, z_dim: int, channels: int = 3, d_norm: str = "none", g_norm: str = "batch",
          num_classes: int = 0):
    """(G, D) of family `name` for 32x32 images with `channels` colors; the conditional families
    (`CONDITIONAL_FAMILIES`) need `num_classes` >= 2, the others take none (0)."""
    if name in CONDITIONAL_FAMILIES:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"torch_nets: {name} is class-conditional; num_classes must be an integer >= 2, "
                             f"got {num_classes!r}")
        _check_norms(d_norm, g_norm)
        g_cls, d_cls = CONDITIONAL_FAMILIES[name]
        return g_cls(z_dim, channels, g_norm, num_classes), d_cls(channels, d_norm, num_classes)
    if name not in FAMILIES:
        known = sorted(FAMILIES) + sorted(CONDITIONAL_FAMILIES)
        raise ValueError(f"torch_nets: unknown network {name!r}; known: {', '.join(known)}")
    if num_classes:
        raise ValueError(f"torch_nets: {name} is unconditional; num_classes must be 0, got {num_classes!r}")
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


def non_saturating_loss(real_logits, fake_logits):
    """Goodfellow et al. 2014 (gan_bench `losses.non_saturating`): (D's loss, G's loss)."""
    return (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean(), F.softplus(-fake_logits).mean())


def hinge_loss(real_logits, fake_logits):
    """Lim & Ye 2017 (gan_bench `losses.hinge`, BigGAN-PyTorch `loss_hinge_dis` / `loss_hinge_gen`)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean(), -fake_logits.mean()


LOSSES = {"non_saturating": non_saturating_loss, "hinge": hinge_loss}


class TorchGANStep:
    """The work of gan_bench's `train_step` in PyTorch: `n_disc` D updates, then one G update.

    As in gan_bench (and compare_gan), D sees real and fake in one concatenated batch in both updates; the
    loss is `loss` (a key of `LOSSES`: the non-saturating GAN loss of Goodfellow et al. 2014 by default, or the
    hinge loss); Adam for both (G at `lr`, D at `d_lr`, default `lr`); the G EMA is updated after every G step.
    D's parameters are frozen during the G backward pass (PyTorch would otherwise compute D weight gradients
    that nobody uses; XLA drops them by dead-code elimination).
    With `num_classes` > 0 the nets are class-conditional, G(z, y) and D(x, y), as in gan_bench: each G call
    draws its labels uniformly from the classes, the real batches come with theirs, and D judges
    [real; fake] with [y_real; y_fake].
    `step(real, labels=None)`: real [n_disc, B, C, H, W] and, exactly when conditional, labels [n_disc, B]
    (int64), on the device of the nets.
    """

    def __init__(self, g: nn.Module, d: nn.Module, z_dim: int, lr=2e-4, betas=(0.5, 0.999), ema_decay=0.0, *,
                 d_lr=None, loss: str = "non_saturating", num_classes: int = 0):
        if loss not in LOSSES:
            raise ValueError(f"TorchGANStep: loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0 or num_classes == 1:
            raise ValueError(f"TorchGANStep: num_classes must be 0 (unconditional) or an integer >= 2, "
                             f"got {num_classes!r}")
        self.g, self.d, self.z_dim, self.ema_decay = g.train(), d.train(), z_dim, ema_decay
        self.loss_fn, self.num_classes = LOSSES[loss], num_classes
        self.opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(d.parameters(), lr=lr if d_lr is None else d_lr, betas=betas)
        self.ema = [p.detach().clone() for p in g.parameters()]

    def _fakes(self, n: int, device):
        """(G's samples of n fresh latents, their labels or None)."""
        z = torch.randn(n, self.z_dim, device=device)
        if not self.num_classes:
            return self.g(z), None
        y = torch.randint(0, self.num_classes, (n,), device=device)
        return self.g(z, y), y

    def _judge(self, real, fake, y_real, y_fake):
        """D's (real logits, fake logits) from one pass over [real; fake]."""
        x = torch.cat([real, fake])
        logits = self.d(x) if y_real is None else self.d(x, torch.cat([y_real, y_fake]))
        return logits.chunk(2)

    def _d_update(self, real, y_real):
        with torch.no_grad():
            fake, y_fake = self._fakes(real.shape[0], real.device)
        d_loss, _ = self.loss_fn(*self._judge(real, fake, y_real, y_fake))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss

    def _g_update(self, real, y_real):
        self.d.requires_grad_(False)
        fake, y_fake = self._fakes(real.shape[0], real.device)
        _, g_loss = self.loss_fn(*self._judge(real, fake, y_real, y_fake))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, [p.detach() for p in self.g.parameters()], 1.0 - self.ema_decay)
        return g_loss

    def step(self, real, labels=None):
        if real.dim() != 5:
            raise ValueError(f"TorchGANStep.step: real must be [n_disc, B, C, H, W], got {tuple(real.shape)}")
        if bool(self.num_classes) != (labels is not None):
            raise ValueError(f"TorchGANStep.step: labels must be given exactly when the nets are conditional "
                             f"(num_classes = {self.num_classes}, labels given: {labels is not None})")
        if labels is not None and tuple(labels.shape) != tuple(real.shape[:2]):
            raise ValueError(f"TorchGANStep.step: labels must have shape {tuple(real.shape[:2])}, "
                             f"got {tuple(labels.shape)}")
        label = (lambda i: None) if labels is None else (lambda i: labels[i])
        d_losses = [self._d_update(real[i], label(i)) for i in range(real.shape[0])]
        g_loss = self._g_update(real[-1], label(real.shape[0] - 1))
        return float(torch.stack(d_losses).mean().detach()), float(g_loss.detach())
