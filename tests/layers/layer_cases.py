"""The layers under test, with inputs and helpers shared by the per-family and the common tests."""

import dataclasses

import keras
import numpy as np

import kerasfg.layers as L


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """One configured layer: ``make(**kwargs)`` builds it; it is called on inputs of ``shapes``."""

    id: str
    make: object
    shapes: tuple  # one input shape without the batch axis, or a tuple of them for several inputs
    has_maps: bool = True
    float32_output: bool = False  # the main output is float32 by design (log-probabilities)
    make_inputs: object = None  # (batch, rng) -> arrays, when random normal inputs do not fit

    @property
    def multi_input(self):
        return isinstance(self.shapes[0], tuple)

    def inputs(self, batch=2, seed=0):
        rng = np.random.default_rng(seed)
        if self.make_inputs is not None:
            return self.make_inputs(batch, rng)
        shapes = self.shapes if self.multi_input else (self.shapes,)
        arrays = [rng.normal(size=(batch, *s)).astype("float32") for s in shapes]
        return arrays if self.multi_input else arrays[0]

    def model(self, with_maps=False, **layer_kwargs):
        """A functional model around one layer, outputs ``[y]`` or ``[y, *maps]``."""
        shapes = self.shapes if self.multi_input else (self.shapes,)
        inputs = [keras.Input(s) for s in shapes]
        layer = self.make(**layer_kwargs)
        x = inputs if self.multi_input else inputs[0]
        if with_maps and self.has_maps:
            y, maps = layer(x, return_attention=True)
            outputs = [*flatten(y), *(maps[k] for k in sorted(maps))]
        else:
            outputs = layer(x)
        return keras.Model(inputs if self.multi_input else inputs[0], outputs), layer


def flatten(outputs):
    """A layer's or a model's outputs as a list."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _unpooling_inputs(batch, rng, size=(5, 4), channels=3, padding="same"):
    """[x, pool_input, pool_output] with pool_output = MaxPooling2D(2)(pool_input)."""
    pool_input = rng.normal(size=(batch, *size, channels)).astype("float32")
    pool_output = keras.ops.convert_to_numpy(
        keras.layers.MaxPooling2D(2, padding=padding)(pool_input))
    return [rng.normal(size=pool_output.shape).astype("float32"), pool_input, pool_output]


CASES = [
    LayerCase("cbam", lambda **kw: L.CBAM(ratio=4, name="cbam", **kw), (6, 5, 8)),
    LayerCase(
        "cbam_parallel_timm",
        lambda **kw: L.CBAM(ratio=3, divisor=1, mlp_bias=False, order="parallel",
                            spatial_pool_order="mean_max", kernel_size=3, name="cbam_p", **kw),
        (5, 4, 8),
    ),
    LayerCase("squeeze_excite", lambda **kw: L.SqueezeExcite(ratio=4, name="se", **kw), (5, 5, 8)),
    LayerCase("eca", lambda **kw: L.ECA(name="eca", **kw), (5, 5, 16)),
    LayerCase("eca_circular",
              lambda **kw: L.ECA(kernel_size=3, padding="circular", name="ceca", **kw), (4, 4, 8)),
    LayerCase("attention_branch",
              lambda **kw: L.AttentionBranch(num_classes=5, name="abn", **kw), ((6, 6, 8), (6, 6, 12))),
    LayerCase("attention_branch_multitask",
              lambda **kw: L.AttentionBranch(num_tasks=3, task_pooling="max", name="abn_mt", **kw),
              (5, 5, 8)),
    LayerCase("self_attention",
              lambda **kw: L.SelfAttention2D(num_heads=2, name="mhsa", **kw), (4, 3, 8)),
    LayerCase("self_attention_plain",
              lambda **kw: L.SelfAttention2D(num_heads=2, key_dim=3, value_dim=5,
                                             position_embedding=False, layer_norm=False,
                                             residual=False, name="mhsa_plain", **kw), (3, 4, 6)),
    LayerCase("augmented_conv",
              lambda **kw: L.AugmentedConv2D(12, 3, key_depth=4, value_depth=4, num_heads=2,
                                             name="aa", **kw), (5, 4, 6)),
    LayerCase("attend_rectify",
              lambda **kw: L.AttendRectify(num_classes=3, num_heads=2, name="warn", **kw),
              ((3,), (2, 2, 8), (4, 4, 6), (2, 2, 8)), float32_output=True),
    LayerCase("attend_rectify_sigmoid",
              lambda **kw: L.AttendRectify(num_classes=4, num_heads=3, gate="sigmoid",
                                           kernel_size=1, name="warn_s", **kw),
              ((4,), (3, 3, 5), (6, 5, 4)), float32_output=True),
    LayerCase("glimpse_grid",
              lambda **kw: L.GlimpseGrid(grid_size=4, num_glimpses=3, name="glimpse_grid", **kw), (5, 5, 1),
              float32_output=True),
    LayerCase("max_unpooling",
              lambda **kw: L.MaxUnpooling2D(2, padding="same", name="unpool", **kw),
              ((3, 2, 3), (5, 4, 3), (3, 2, 3)), has_maps=False, make_inputs=_unpooling_inputs),
]


def case_params():
    import pytest

    return [pytest.param(c, id=c.id) for c in CASES]


def randomize(layer, seed=1):
    """Give every variable of ``layer`` random values (positive ones for BN variances)."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        shape = tuple(v.shape)
        if "variance" in v.path:
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            value = rng.normal(scale=0.5, size=shape)
        v.assign(value.astype(keras.backend.standardize_dtype(v.dtype)))
    return layer


def weights(layer):
    """Variables of ``layer`` by their path relative to it (``"mlp_hidden/kernel"``), as NumPy."""
    prefix = layer.name + "/"
    return {v.path.removeprefix(prefix): keras.ops.convert_to_numpy(v) for v in layer.weights}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def conv2d_same(x, kernel):
    """NumPy 'same' cross-correlation, stride 1: x (b, h, w, c), kernel (kh, kw, c, o)."""
    kh, kw = kernel.shape[:2]
    ph, pw = kh // 2, kw // 2
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros((x.shape[0], h, w, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("bhwc,co->bhwo", xp[:, i:i + h, j:j + w, :], kernel[i, j])
    return out
