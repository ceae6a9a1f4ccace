"""The reference outputs and tolerances that verification compares a SavedModel with.

Every signature is run eagerly on the Keras model (:func:`expected_outputs`), on sample images and extra
inputs (:func:`sample_images`, :func:`sample_extras`); :func:`reference_requests` packs them as the warmup
records whose stored responses ``verify-export`` checks the SavedModel's answers against, within
:func:`default_tolerance`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerasfg.data import preprocessing as _pre
from kerasfg.export import warmup as _warmup
from kerasfg.export.plan import ExportPlan
from kerasfg.export.served import IMAGE_BYTES, ExportError, arrange_inputs, named_outputs
from kerasfg.export.signatures import Signatures


def default_tolerance(model) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing the SavedModel with the Keras model: graph rewrites (fused oneDNN
    kernels) round differently from eager execution, by up to one unit in the last place of the compute
    dtype, so mixed-precision models get the tolerance of their half-precision type."""
    dtypes = {getattr(layer, "compute_dtype", "float32") for layer in model.layers}
    if "bfloat16" in dtypes:
        return 2e-2, 1e-2  # bfloat16 has 8 bits of mantissa: one ulp at 1.0 is 0.0078
    if "float16" in dtypes:
        return 5e-3, 2e-3
    return 1e-4, 1e-5


def sample_images(preprocessing, count=2, seed=0) -> list[bytes]:
    """Deterministic smooth test images: a lossless PNG at the model's size, then JPEGs of other sizes."""
    rng = np.random.default_rng(seed)
    h, w = preprocessing.image_size
    images = []
    for k in range(count):
        size = (h, w) if k == 0 else (h + 7 * k, w + 3 * k)
        yy, xx = np.meshgrid(np.linspace(0, 1, size[0]), np.linspace(0, 1, size[1]), indexing="ij")
        base = np.stack([yy, xx, (yy + xx) / 2][: preprocessing.channels], axis=-1) * 200
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        encode = tf.io.encode_png if k == 0 else (lambda p: tf.io.encode_jpeg(p, quality=90))
        images.append(bytes(encode(pixels).numpy()))
    return images


def sample_extras(served, batch, sample_inputs=None) -> dict:
    """Values of the extra inputs for ``batch`` examples: ``sample_inputs[name]``, or zeros (valid for
    embeddings, masks and numeric features alike)."""
    if sample_inputs is not None and not isinstance(sample_inputs, dict):
        raise ExportError(f"sample_inputs must be {{input name: values}}, got {type(sample_inputs).__name__}")
    sample_inputs = dict(sample_inputs or {})
    unknown = sorted(set(sample_inputs) - set(served.extras))
    if unknown:
        raise ExportError(f"sample_inputs names {unknown}, which are not extra inputs of the model; its extra "
                          f"inputs are {sorted(served.extras)}")
    extras = {}
    for name, (shape, dtype) in served.extras.items():
        if name in sample_inputs:
            value = np.asarray(sample_inputs[name], dtype=dtype)
            if value.shape != (batch, *shape):
                raise ExportError(f"sample_inputs[{name!r}] must have shape {(batch, *shape)}, got {value.shape}")
        else:
            value = np.zeros((batch, *[s or 1 for s in shape]), dtype=dtype)
        extras[name] = value
    return extras


def expected_outputs(plan: ExportPlan, signature, inputs) -> dict:
    """The outputs ``signature`` must return for ``inputs`` (numpy, by signature input name), computed by
    calling the Keras model eagerly."""
    sigs = Signatures(plan)
    served = plan.served
    if IMAGE_BYTES in inputs:
        pixels = _pre.decode_images(tf.constant(inputs[IMAGE_BYTES]), plan.preprocessing)
    else:
        pixels = tf.constant(inputs[served.image_name], tf.float32)
    extras = {k: tf.constant(v) for k, v in inputs.items() if k in served.extras}
    if signature == "explain":
        result = sigs.explain_pixels(pixels, extras)
    else:
        by_name = {served.image_name: tf.cast(pixels, served.image_dtype), **extras}
        outputs = plan.model(arrange_inputs(plan.model, by_name), training=False)
        result = sigs.head_outputs(named_outputs(plan.model, outputs))
    result = {k: v.numpy() for k, v in result.items()}
    for head, names in plan.class_names.items():
        result[f"{head}_name"] = np.array([names[c].encode() for c in result[f"{head}_class"]], dtype=object)
    return result


def reference_requests(plan: ExportPlan, images, extras) -> list:
    """Warmup requests for every signature of ``plan``, each with the Keras model's own outputs as its
    response.

    Args:
        plan: the export plan.
        images: encoded images (``serve_pixels`` gets them decoded by the plan's preprocessing).
        extras: ``{extra input: values}`` for as many examples.
    """
    pixels = _pre.decode_images(tf.constant(images), plan.preprocessing).numpy()
    requests = []
    for name in plan.signature_names:
        if name == "serve_pixels":
            inputs = {plan.served.image_name: pixels, **extras}
        else:
            inputs = {IMAGE_BYTES: np.array(images, dtype=object), **extras}
        requests.append(_warmup.WarmupRequest(name, inputs, expected_outputs(plan, name, inputs)))
    return requests
