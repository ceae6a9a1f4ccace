"""Training precision per device: what the training step computes in, and how it is switched on.

``precision`` (``train.precision`` in a config) is one of:

- ``"float32"``: everything in float32.
- ``"mixed_bfloat16"`` / ``"mixed_float16"``: the Keras dtype policies; layers compute in the half
  type and keep float32 weights, the classifier heads, gates and maps stay float32.
- ``"onednn_bfloat16"``: the model is built, saved and exported in float32; while it trains,
  TensorFlow's oneDNN auto-mixed-precision graph rewrite runs the training step's convolutions,
  matrix products and batch normalizations in bfloat16 on the CPU's bfloat16 units (AMX or
  AVX-512 BF16), with float32 weights and float32 losses. It is a CPU path (oneDNN kernels, no
  XLA).
- ``"auto"``: the fastest of these that trains as well as float32 on this machine:
  ``onednn_bfloat16`` on CPUs with bfloat16 units, ``mixed_bfloat16`` on GPUs of compute
  capability 8.0 or newer, ``mixed_float16`` on 7.x, otherwise ``float32``
  (``docs/performance.md`` has the measurements).

`kerasfg.training.fit` applies the choice itself. With plain ``model.fit``, build, compile and fit
inside `training_precision`:

```python
with kerasfg.precision.training_precision() as precision:   # "auto": the fastest for the device
    model = kerasfg.models.build_model("resnet50", input_shape=(112, 112, 3), num_classes=10)
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=precision.jit_compile)
    model.fit(train, epochs=10)
model.save("model.keras")   # float32 weights, as with any precision
```
"""

import contextlib
import dataclasses
import logging
import pathlib

import keras

from kerasfg.config import PRECISIONS

logger = logging.getLogger(__name__)

ONEDNN_BFLOAT16 = "onednn_bfloat16"
# The TensorFlow optimizer option behind "onednn_bfloat16" (`tf.config.optimizer`).
REWRITE_OPTION = "auto_mixed_precision_onednn_bfloat16"


@dataclasses.dataclass(frozen=True)
class Precision:
    """A resolved training precision and XLA setting (see the module docstring).

    Attributes:
        name: the precision, never ``"auto"``.
        jit_compile: whether the training step is compiled with XLA.
    """

    name: str
    jit_compile: bool

    @property
    def dtype_policy(self):
        """The Keras dtype policy to build the model with."""
        return "float32" if self.name == ONEDNN_BFLOAT16 else self.name

    @property
    def graph_rewrite(self):
        """Whether the training step runs under the oneDNN bfloat16 graph rewrite."""
        return self.name == ONEDNN_BFLOAT16

    @contextlib.contextmanager
    def build_scope(self):
        """Build models with `dtype_policy` inside; the previous global policy is restored after."""
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.dtype_policy)
        try:
            yield self
        finally:
            keras.config.set_dtype_policy(previous)

    @contextlib.contextmanager
    def training_scope(self):
        """Train inside: switches the graph rewrite on for ``onednn_bfloat16`` (`onednn_bfloat16_rewrite`)."""
        if not self.graph_rewrite:
            yield self
            return
        with onednn_bfloat16_rewrite():
            yield self


def resolve(precision="auto", jit_compile="auto"):
    """The `Precision` for ``precision`` and ``jit_compile`` on this machine.

    Args:
        precision: one of `PRECISIONS`.
        jit_compile: True, False or ``"auto"`` (XLA on GPUs; not on CPUs, where XLA's own kernels
            are slower than oneDNN's and do not use the bfloat16 units).

    Returns:
        A `Precision`.

    Raises:
        ValueError: for an unknown precision.
    """
    name = resolve_precision(precision)
    jit = resolve_jit_compile(jit_compile)
    if name == ONEDNN_BFLOAT16:
        if _gpus():
            logger.warning("precision %s rewrites oneDNN (CPU) kernels only; operations placed on "
                           "this machine's GPU train in float32. Use mixed_bfloat16 or "
                           "mixed_float16 on GPUs.", name)
        elif not cpu_has_bfloat16_units():
            logger.warning("precision %s on a CPU without bfloat16 units (AMX-BF16 or AVX512-BF16): "
                           "oneDNN emulates bfloat16, slower than float32.", name)
        if jit:
            logger.warning("precision %s with jit_compile=True: XLA compiles the training step "
                           "itself, so the oneDNN rewrite does not apply to it.", name)
    return Precision(name, jit)


def resolve_precision(precision):
    """The precision ``"auto"`` stands for on this machine (see the module docstring); other values
    are returned as they are.

    Raises:
        ValueError: for a value not in `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}; received {precision!r}.")
    if precision != "auto":
        return precision
    gpus = _gpus()
    if gpus:
        import tensorflow as tf

        major, _ = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return "mixed_bfloat16" if major >= 8 else "mixed_float16" if major >= 7 else "float32"
    return ONEDNN_BFLOAT16 if cpu_has_bfloat16_units() else "float32"


def resolve_jit_compile(jit_compile):
    """Resolve ``"auto"``: XLA on GPUs, where it speeds training up; not on CPUs, where it slows it.

    XLA on CPU was measured about 40% slower for a small ResNet (oneDNN kernels beat XLA:CPU's own
    code, which does not use the bfloat16 units), while on GPUs it is the usual win.
    """
    if jit_compile != "auto":
        return bool(jit_compile)
    return bool(_gpus())


def cpu_has_bfloat16_units():
    """Whether this x86 CPU has bfloat16 matrix instructions (AMX-BF16 or AVX512-BF16)."""
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))


@contextlib.contextmanager
def onednn_bfloat16_rewrite():
    """Run compiled functions called inside under TensorFlow's oneDNN bfloat16 graph rewrite.

    The rewrite (``tf.config.optimizer`` option ``auto_mixed_precision_onednn_bfloat16``) changes
    no model, variable or traced graph: when a `tf.function` is called, Grappler rewrites the graph
    it runs so that convolutions, matrix products, batch normalizations and the elementwise
    operations between them compute in bfloat16, with casts at the edges; float32 goes in and
    comes out. It applies to the functions called inside the block (a function is optimized once
    per setting), and the previous setting is restored when the block ends, so that evaluations,
    exports and other functions called after it run in float32 again. Functions that switch
    Grappler off (`kerasfg.vis.compiled.RecordingFunction`, the recording callbacks) are never
    rewritten.

    TensorFlow keeps the option for the whole process: another thread that calls a function for
    the first time while the block runs is rewritten too.
    """
    import tensorflow as tf

    previous = tf.config.optimizer.get_experimental_options().get(REWRITE_OPTION)
    tf.config.optimizer.set_experimental_options({REWRITE_OPTION: True})
    try:
        yield
    finally:  # None unsets the option (Grappler's default, off)
        tf.config.optimizer.set_experimental_options({REWRITE_OPTION: previous})


@contextlib.contextmanager
def training_precision(precision="auto", jit_compile="auto"):
    """Build, compile and train inside this block with the `Precision` it yields.

    Models built inside get the precision's dtype policy; compiled functions called inside run
    under its graph rewrite (``onednn_bfloat16``); both are restored when the block ends. Pass
    ``precision.jit_compile`` to ``model.compile``. Save, export and evaluate in float32 after the
    block (or inside it: the saved weights are float32 either way).

    Args:
        precision: one of `PRECISIONS` (default ``"auto"``).
        jit_compile: True, False or ``"auto"``.

    Yields:
        The resolved `Precision`.

    Example:

    ```python
    with kerasfg.precision.training_precision() as precision:
        model = kerasfg.models.build_model("resnet50", input_shape=(112, 112, 3), num_classes=10)
        model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=precision.jit_compile)
        model.fit(train, epochs=10)
    ```
    """
    chosen = resolve(precision, jit_compile)
    with chosen.build_scope(), chosen.training_scope():
        yield chosen


def _gpus():
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")
