"""NumPy oracles of the augmentations, shared by the tests of augmentations and of regularizers that use them.

`np_diffaugment` writes DiffAugment's operations (and the consistency transforms' flip) as the authors'
DiffAugment_pytorch.py does them: NCHW, a one-pixel zero pad indexed with clamped indices for translation, a
cutout mask set by scattering clamped indices; float64 loops.
"""
import itertools

import numpy as np


def np_diffaugment(x_nhwc, ops, draws):
    x = np.asarray(x_nhwc, np.float64).transpose(0, 3, 1, 2)  # NCHW, as the authors' code
    n, c, h, w = x.shape
    for op in ops:
        d = np.asarray(draws[op])
        if op == "brightness":
            x = x + (d.reshape(n, 1, 1, 1) - 0.5)
        elif op == "saturation":
            m = x.mean(axis=1, keepdims=True)
            x = (x - m) * (d.reshape(n, 1, 1, 1) * 2) + m
        elif op == "contrast":
            m = x.mean(axis=(1, 2, 3), keepdims=True)
            x = (x - m) * (d.reshape(n, 1, 1, 1) + 0.5) + m
        elif op == "translation":
            pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            out = np.empty_like(x)
            for b, i, j in itertools.product(range(n), range(h), range(w)):
                gi = min(max(i + d[b, 0] + 1, 0), h + 1)
                gj = min(max(j + d[b, 1] + 1, 0), w + 1)
                out[b, :, i, j] = pad[b, :, gi, gj]
            x = out
        elif op == "cutout":
            ch, cw = h * 1 // 2, w * 1 // 2
            mask = np.ones((n, h, w))
            for b, a, e in itertools.product(range(n), range(ch), range(cw)):
                mask[b, min(max(a + d[b, 0] - ch // 2, 0), h - 1), min(max(e + d[b, 1] - cw // 2, 0), w - 1)] = 0
            x = x * mask[:, None]
        elif op == "flip":
            x = np.where(d.reshape(n, 1, 1, 1) > 0, x[..., ::-1], x)
    return x.transpose(0, 2, 3, 1)
