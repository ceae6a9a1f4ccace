"""Caffe's cifar10_quick: its layers and parameter count, and an output-code head on ip1."""

import numpy as np

from kerasfg.codes import OutputCodes
from kerasfg.models import build_model


def test_layers_and_parameters_of_caffe_cifar10_quick():
    model = build_model("cifar_quick", input_shape=(32, 32, 3), num_classes=10)
    # conv1 2,432 + conv2 25,632 + conv3 51,264 + ip1 (4*4*64 -> 64) 65,600 + ip2 650
    assert model.count_params() == 145_578
    assert model.get_layer("pool3").output.shape[1:] == (4, 4, 64)


def test_an_output_code_head_reads_ip1():
    model = build_model("cifar_quick", input_shape=(32, 32, 3), num_classes=100,
                        output_codes={"predictions": {"design": "gaussian", "bits": 66}})
    assert isinstance(model.get_layer("predictions"), OutputCodes)
    assert model.get_layer("predictions_code").input.shape[-1] == 64
    probabilities = model(np.zeros((2, 32, 32, 3), "float32"))["predictions"]
    assert probabilities.shape == (2, 100)
