"""WARN: attachment points of the official code, the gated log-probability output, its loss."""

import keras
import numpy as np
import pytest

from kerasfg.losses import NegativeLogLikelihood
from kerasfg.models import build_model, warn_losses


@pytest.mark.parametrize("depth, sizes", [(1, [(4, 4)]), (2, [(4, 4), (8, 8)]),
                                          (3, [(4, 4), (8, 8), (16, 16)])])
def test_attention_depth_attaches_to_the_official_maps(depth, sizes):
    model = build_model("warn", input_shape=(16, 16, 3), num_classes=5, depth=10, width=2,
                        attention_depth=depth, num_heads=2)
    layer = model.get_layer("attend_rectify")
    logits, last, *attended = layer.input
    assert [tuple(t.shape[1:3]) for t in attended] == sizes
    assert last is model.get_layer("post_relu").output and attended[0] is last
    if depth >= 2:
        assert attended[1] is model.get_layer("stage3_block1_preact_relu").output
    if depth == 3:
        assert attended[2] is model.get_layer("stage2_block1_preact_relu").output
    assert logits is model.get_layer("logits").output


def test_output_is_a_gated_mixture_of_log_probabilities_trained_with_nll():
    model = build_model("warn", input_shape=(16, 16, 3), num_classes=4, depth=10, width=1,
                        num_heads=2, reg_weight=1e-3)
    x = np.random.default_rng(0).normal(size=(6, 16, 16, 3)).astype("float32")
    y = np.asarray(model(x)["log_probs"])
    assert y.shape == (6, 4) and (y <= 0).all()
    # a convex mixture of log-probabilities: exp(mixture) sums to at most 1 (Jensen)
    assert (np.exp(y).sum(axis=-1) <= 1 + 1e-5).all()
    assert len(model.losses) == 1  # the masks' diversity penalty
    penalty = float(model.losses[0])
    assert penalty > 0
    compiled = warn_losses()
    assert isinstance(compiled["loss"]["log_probs"], NegativeLogLikelihood)
    model.compile(optimizer=keras.optimizers.SGD(0.05), **compiled)
    labels = np.arange(6) % 4
    result = model.evaluate(x, {"log_probs": labels}, verbose=0, return_dict=True)
    expected = -np.mean(y[np.arange(6), labels]) + penalty
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-4)
    history = model.fit(x, {"log_probs": labels}, epochs=3, batch_size=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_bad_attention_depth():
    with pytest.raises(ValueError, match="attention_depth"):
        build_model("warn", input_shape=(16, 16, 3), num_classes=4, depth=10, width=1,
                    attention_depth=4)
