"""summary_table: totals, per-stage and per-attention-module parameter counts."""

import numpy as np

from kerasfg.models import build_model, parameter_summary, summary_table


def test_counts_add_up_and_attention_modules_are_listed():
    model = build_model("resnet18", input_shape=(32, 32, 3), num_classes=10, attention="se")
    summary = parameter_summary(model)
    assert summary.total == model.count_params()
    assert summary.trainable == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert summary.non_trainable == summary.total - summary.trainable
    assert sum(total for total, _ in summary.groups.values()) == summary.total
    assert list(summary.groups)[:5] == ["stem", "stage1", "stage2", "stage3", "stage4"]
    stage2 = sum(layer.count_params() for layer in model.layers if layer.name.startswith("stage2_"))
    assert summary.groups["stage2"][0] == stage2
    assert len(summary.attention) == 8
    assert summary.attention["stage3_block1_se"] == (
        "SqueezeExcite", model.get_layer("stage3_block1_se").count_params())
    plain = build_model("resnet18", input_shape=(32, 32, 3), num_classes=10)
    assert summary.attention_total == summary.total - plain.count_params()
    table = summary_table(model)
    assert f"{summary.total:,} parameters" in table
    assert "stage3_block1_se" in table and "SqueezeExcite" in table


def test_frozen_layers_show_as_non_trainable():
    model = build_model("vgg16_cam", input_shape=(32, 32, 3), num_classes=2)
    for layer in model.layers:
        layer.trainable = layer.name.startswith("block5") or layer.name == "predictions"
    summary = parameter_summary(model)
    assert summary.trainable == 7_080_450
    assert summary.groups["block4"][1] == 0 and summary.groups["block5"][1] == 7_079_424
    assert "attention modules" not in summary_table(model)
