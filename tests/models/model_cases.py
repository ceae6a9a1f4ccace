"""Small configurations of every model family, with inputs, targets and compile arguments."""

import dataclasses

import keras
import numpy as np

from kerasfg.models import abn_losses, build_model, face_head_losses, warn_losses


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """``build_model(name, input_shape=..., num_classes=..., **options)`` plus its training set-up."""

    id: str
    name: str
    input_shape: tuple
    num_classes: object
    options: dict = dataclasses.field(default_factory=dict)
    losses: str = "classifier"  # classifier | abn | abn_multitask | warn | face_head
    xla: bool = True  # False where another case already compiles the same family under XLA

    def build(self):
        return build_model(self.name, input_shape=self.input_shape, num_classes=self.num_classes,
                           **self.options)

    def inputs(self, model, batch=4, seed=0):
        rng = np.random.default_rng(seed)
        arrays = {}
        for tensor in model.inputs:
            name = tensor.name
            if "int" in str(tensor.dtype):
                arrays[name] = rng.integers(0, 7, size=(batch,)).astype("int32")
            else:
                arrays[name] = rng.normal(size=(batch, *tensor.shape[1:])).astype("float32")
        return arrays if len(arrays) > 1 else next(iter(arrays.values()))

    def targets(self, model, batch=4, seed=1):
        rng = np.random.default_rng(seed)
        targets = {}
        for key, tensor in model.output.items():
            classes = tensor.shape[-1]
            if self.losses == "abn_multitask":
                targets[key] = rng.integers(0, 2, size=(batch, classes)).astype("float32")
            else:
                targets[key] = rng.integers(0, classes, size=(batch,)).astype("int32")
        targets.pop("attention_map", None)
        return targets

    def compile_arguments(self, model):
        if self.losses == "abn":
            return abn_losses()
        if self.losses == "abn_multitask":
            return abn_losses(multitask=True)
        if self.losses == "warn":
            return warn_losses()
        if self.losses == "face_head":
            return face_head_losses(model)
        return {"loss": {k: keras.losses.SparseCategoricalCrossentropy() for k in model.output}}


CASES = [
    ModelCase("resnet18_cbam", "resnet18", (32, 32, 1), 3, {"attention": "cbam"}),
    ModelCase("resnet18v2_se_elu", "resnet18v2", (32, 32, 3), 3,
              {"attention": "se", "activation": "elu"}),
    ModelCase("vgg16_se_last_fc", "vgg16", (32, 32, 1), 3,
              {"attention": "se", "fc_units": 16, "dropout": 0.5}, xla=False),
    ModelCase("vgg16_augmented_bn_eca_blocks_cam", "vgg16_augmented", (8, 8, 3), 2,
              {"head": "cam", "pool_padding": "same", "batch_norm": True, "attention": "eca",
               "attention_placement": "blocks"}),
    ModelCase("cifar_resnet11_bottleneck_se", "cifar_resnet", (16, 16, 3), 3,
              {"depth": 11, "block": "bottleneck", "attention": "se"}),
    ModelCase("wrn_10_1_cbam", "wide_resnet", (16, 16, 3), 3,
              {"depth": 10, "width": 1, "attention": "cbam", "dropout": 0.3}, xla=False),
    ModelCase("abn_cifar_resnet8", "abn_cifar_resnet", (16, 16, 3), 3, {"depth": 8}, losses="abn"),
    ModelCase("abn_multitask_cifar", "abn_multitask", (16, 16, 3), 5,
              {"style": "cifar", "depth": 8}, losses="abn_multitask"),
    ModelCase("warn_10_1_se", "warn", (16, 16, 3), 3,
              {"depth": 10, "width": 1, "num_heads": 2, "attention": "se", "dropout": 0.3},
              losses="warn"),
    ModelCase("vgg_face_narrow", "vgg_face", (32, 32, 3), 5,
              {"filters": (8, 8, 16, 16, 16), "fc_units": 16}, xla=False),
    ModelCase("pain_cnn_narrow", "pain_cnn", (32, 32, 3), 1,
              {"filters": (4, 4, 8, 8, 8), "fc_units": 8}, xla=False),
    ModelCase("temporal_lstm_classifier", "temporal_lstm", (10, 16), 7,
              {"task": "classification", "units": 4, "num_layers": 2}, xla=False),
    ModelCase("face_head_H", "face_head", (64,), {"identity": 5, "expression": 3},
              {"config": "H", "hidden_units": 8}, losses="face_head"),
    ModelCase("face_resnet_cbam_expression", "face_resnet", (16, 16, 3), {"identity": 3, "gender": 2},
              {"attention": "cbam", "widths": (16, 16), "blocks": (1, 1), "hidden_units": 8,
               "extra_inputs": {"expression": 7}}, xla=False),  # fit and export it in tests/test_training.py
    ModelCase("cifar_quick", "cifar_quick", (32, 32, 3), 10, xla=False),  # trained in tests/models/test_cifar_quick.py
    ModelCase("glimpse_attention_small", "glimpse_attention", (32, 32, 3), {"age": 8, "gender": 2},
              {"grid_size": 4, "num_glimpses": 2, "low_resolution": (32, 32), "fc_units": 8,
               "filters": (8, 16, 16, 32, 32)}, xla=False),  # trained in tests/models/test_glimpse_model.py
    ModelCase("face_head_E_cifar_resnet", "face_head", (16, 16, 3), {"identity": 5, "expression": 7},
              {"config": "E", "backbone": "cifar_resnet", "backbone_options": {"depth": 8},
               "hidden_units": 8, "attention": "eca"},
              losses="face_head"),
    ModelCase("pain_cnn_narrow_expression", "pain_cnn", (32, 32, 3), 3,
              {"task": "classification", "filters": (8, 8, 16, 16, 16), "fc_units": 16, "dropout": 0.0},
              xla=False),  # the pspi regression is trained in tests/pain
    # The MNIST tables' CNNs (A and B: one builder) train in the smoke grids of experiments/000 and 002.
    ModelCase("vanilla_cnn_a", "vanilla_cnn_a", (16, 16, 1), 10, xla=False),
    ModelCase("maxpool_cam_cnn", "maxpool_cam_cnn", (28, 28, 1), 10, xla=False),
    ModelCase("mnist_small_cnn_base", "mnist_small_cnn", (16, 16, 1), 10, {"dropout": 0.0}, xla=False),
    ModelCase("temporal_lstm_small", "temporal_lstm", (4, 8), 3, {"task": "classification", "units": 8},
              xla=False),  # frame features, not images; the regression is trained in tests/pain
]


def case_params(xla_only=False):
    import pytest

    return [pytest.param(case, id=case.id) for case in CASES if case.xla or not xla_only]
