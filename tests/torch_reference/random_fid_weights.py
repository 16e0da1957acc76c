"""A random-weight FID Inception as a torchvision-named state dict (write it with ``torch_format``, no torch).

For tests and benchmarks that need the real weights path (``gan_bench.metrics.inception.load_variables``) but
not the published weights, which a machine without network cannot download.
"""
import numpy as np

from gan_bench.metrics import inception


def random_fid_state_dict(rng, zero_kernels: bool = False) -> dict:
    """torchvision's parameter names with random values: He-scaled kernels (or zeros), random BN statistics."""
    state = {}
    for path, shape in inception._param_shapes().items():  # pylint: disable=protected-access
        parts = path.split("/")
        if parts[0] == "fc":
            if parts[1] == "kernel":
                state["fc.weight"] = rng.normal(0, 0.05, (shape[1], shape[0])).astype(np.float32)
            else:
                state["fc.bias"] = rng.normal(0, 0.1, shape).astype(np.float32)
            continue
        prefix = ".".join(parts[:-2])
        if parts[-1] == "kernel":
            kh, kw, cin, cout = shape
            scale = 0.0 if zero_kernels else np.sqrt(2.0 / (kh * kw * cin))
            state[f"{prefix}.conv.weight"] = (rng.normal(size=(cout, cin, kh, kw)) * scale).astype(np.float32)
        else:
            state[f"{prefix}.bn.weight"] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            state[f"{prefix}.bn.bias"] = rng.normal(0, 0.5, shape).astype(np.float32)
            state[f"{prefix}.bn.running_mean"] = rng.normal(0, 0.1, shape).astype(np.float32)
            state[f"{prefix}.bn.running_var"] = rng.uniform(0.8, 1.2, shape).astype(np.float32)
    return state
