"""The face ResNet's pooled shortcuts: no lattice at the network's stride in its gradient maps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg.data.synthetic import synthetic_faces
from kerasfg.models import build_model

# The quick start's backbone: a stride-2 stem and two downsampling blocks, a total stride of 8.
QUICK_START = {"widths": (32, 64, 128), "blocks": (1, 1, 1), "stem_strides": 2, "hidden_units": 16}
STRIDE = 8


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(8, image_size=64, seed=3).images.astype("float32")


def lattice_contrast(model, images):
    """How much more of the saliency's energy falls on the busiest of the ``STRIDE x STRIDE`` pixel phases than on
    an average one (1: spread evenly; up to ``STRIDE ** 2``: every gradient on one pixel in each window)."""
    images = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = tf.reduce_max(model(images)["identity"], axis=-1)
    saliency = tf.reduce_sum(tf.abs(tape.gradient(scores, images)), axis=-1).numpy()
    phases = np.array([[(saliency[:, i::STRIDE, j::STRIDE] ** 2).mean() for j in range(STRIDE)]
                       for i in range(STRIDE)])
    return phases.max() / phases.mean()


@pytest.mark.parametrize("seed", [0, 1])
def test_pooled_shortcuts_remove_the_lattice_of_strided_ones(faces, seed):
    contrast = {}
    for pooled in (False, True):
        keras.utils.set_random_seed(seed)  # the same weights but for the shortcuts' placement
        model = build_model("face_resnet", input_shape=(64, 64, 3), num_classes=10, attention="cbam",
                            shortcut_pooling=pooled, **QUICK_START)
        contrast[pooled] = lattice_contrast(model, faces)
    assert contrast[False] > 6, contrast  # strided 1x1 shortcuts: most of the gradient on one phase in 64
    assert contrast[True] < 3.5, contrast


def test_pooled_shortcut_layers():
    model = build_model("face_resnet", input_shape=(32, 32, 3), num_classes=3, shortcut_pooling=True,
                        widths=(8, 16), blocks=(1, 1), hidden_units=4)
    pool = model.get_layer("stage2_block1_shortcut_pool")
    assert isinstance(pool, keras.layers.AveragePooling2D) and pool.pool_size == (2, 2)
    assert model.get_layer("stage2_block1_shortcut_conv").strides == (1, 1)
    assert model.get_layer("stage2_block1_shortcut_conv").input is pool.output
    assert model.get_layer("stage2_block1_1_conv").strides == (2, 2)  # the residual branch still downsamples
    strided = build_model("face_resnet", input_shape=(32, 32, 3), num_classes=3,
                          widths=(8, 16), blocks=(1, 1), hidden_units=4)
    assert strided.count_params() == model.count_params()  # the pooling has no weights
    assert strided.get_layer("stage2_block1_shortcut_conv").strides == (2, 2)
