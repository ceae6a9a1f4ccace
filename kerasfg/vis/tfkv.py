"""tf-keras-vis 0.8.7 on Keras 3 models of every kind: Sequential, nested, multi-input and multi-output.

tf-keras-vis works on flat functional Keras 3 models only: its ``ReplaceToLinear`` needs
``model.output_names`` (Sequential has none) and its probe models of inner layers are not connected for
nested models (see ECOSYSTEM.md, section a.3). `flatten` rebuilds any model as a flat
functional model with the same (shared, trained) layers, `replace_to_linear` is a Keras 3 model
modifier that acts on tf-keras-vis's clone, and `TfKerasVis` calls tf-keras-vis's visualizations with
kerasfg's conventions (image input, output name, classes, layer choice):

```python
maps = TfKerasVis(model)(inputs, "gradcam", output="identity")  # float32 (n, h, w), each in [0, 1]
```

Use `kerasfg.vis.explain` for kerasfg's own, faster implementations; this module is a cross-check and
a bridge for code written against tf-keras-vis.
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

try:
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore, InactiveScore
except ModuleNotFoundError as error:  # an optional extra
    raise ModuleNotFoundError(f"kerasfg.vis.tfkv needs tf-keras-vis, which is not installed ({error}); install "
                              "it with: pip install 'kerasfg[crosscheck]'", name=error.name) from error

from kerasfg.vis import render
from kerasfg.vis.cam import is_squashing_layer
from kerasfg.vis.explain import Explainer
from kerasfg.vis.introspect import ModelGraph, feature_layer, producer

with warnings.catch_warnings():  # they import zoom from the deprecated scipy.ndimage.interpolation
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*scipy.ndimage.interpolation")
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.scorecam import Scorecam

VISUALIZATIONS = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "layercam": Layercam,
                  "saliency": Saliency, "scorecam": Scorecam, "smoothgrad": Saliency}
"""``{method name: tf-keras-vis class}``; ``smoothgrad`` is `Saliency` with ``smooth_samples``."""


def flatten(model):
    """A flat functional model computing ``model``'s outputs with its own layers.

    Nested models are unrolled (their layers become layers of the flat model, under their own names,
    which must therefore be unique across the nested models); the outputs are a list in the order of
    `kerasfg.vis.output_names`.
    """
    graph = ModelGraph(model)
    names = [path.rsplit("/", 1)[-1] for path, layer in graph.layers.items()
             if not isinstance(layer, (keras.Model, keras.layers.InputLayer))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Model '{model.name}' cannot be flattened: layers of different nested models share the "
                         f"names {repeated}; use kerasfg.vis.explain, which reaches them by path.")
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name) for t in model.inputs]
    outputs, _ = graph(inputs[0] if len(inputs) == 1 else {t.name: t for t in inputs})
    return keras.Model(inputs, [outputs[name] for name in graph.output_names], name=f"{model.name}_flat")


def replace_to_linear(model):
    """tf-keras-vis's ``ReplaceToLinear`` for Keras 3 (use it as ``model_modifier=``, on the clone).

    Every output layer with a softmax or sigmoid activation gets a linear one; an output that is a
    separate ``Softmax``/``Activation`` layer is replaced by that layer's input, in a new functional
    model that is returned (tf-keras-vis then uses it).
    """
    outputs, rebuilt = [], False
    for tensor in model.outputs:
        found = producer(tensor)
        layer = found.layer
        if is_squashing_layer(layer):
            tensor, rebuilt = found.inputs[0], True
        elif getattr(layer, "activation", None) in (keras.activations.softmax, keras.activations.sigmoid):
            layer.activation = keras.activations.linear
        outputs.append(tensor)
    return keras.Model(model.inputs, outputs, name=model.name) if rebuilt else None


class TfKerasVis:
    """tf-keras-vis's visualizations of any Keras 3 model, called like `kerasfg.vis.Explainer`.

    The model is flattened once; each tf-keras-vis visualization is built once (cloning the flat model
    and applying `replace_to_linear`, so scores are taken before the softmax) and kept.

    Args:
        model: a built Keras model.

    Call arguments:
        inputs: an array of images, or a dict of named inputs (see `kerasfg.vis.Explainer`).
        method: one of `VISUALIZATIONS`.
        layer: the CAM layer (path or unique name); kerasfg's default layer
            (`kerasfg.vis.introspect.feature_layer`) otherwise, so that the maps compare with
            `kerasfg.vis.explain`'s.
        output: the output to explain; the first by default.
        classes: None (the predicted classes), an int, or one int per image.
        **options: passed to the tf-keras-vis call (``max_N``, ``smooth_samples``, ``normalize_cam``...).

    Returns:
        float32 array `(n, height, width)`, normalised by tf-keras-vis to [0, 1] unless told otherwise.
        CAMs are taken at the layer's resolution (``expand_cam=False``; tf-keras-vis would resize them
        with SciPy's deprecated ``zoom``, to the shape of every input of a multi-input model) and
        resized bilinearly to the image (`kerasfg.vis.render.resize`). Score-CAM and SmoothGrad work on
        single-input models only: tf-keras-vis masks, or adds noise to, every input.
    """

    def __init__(self, model):
        self.explainer = Explainer(model)
        self.flat = flatten(model)
        self._visualizations = {}

    def __call__(self, inputs, method, *, layer=None, output=None, classes=None, **options):
        if method not in VISUALIZATIONS:
            raise ValueError(f"Unknown tf-keras-vis method {method!r}; choose one of {sorted(VISUALIZATIONS)}.")
        explainer = self.explainer
        image, rest = explainer.split_inputs(inputs)
        output = explainer.output_name(output)
        model_inputs = explainer.model_inputs(image, rest)
        if classes is None:
            classes = np.argmax(explainer.graph(model_inputs)[0][output], axis=-1)
        classes = np.broadcast_to(np.asarray(classes), (image.shape[0],)).tolist()
        scores = [CategoricalScore(classes) if name == output else InactiveScore()
                  for name in explainer.graph.output_names]
        seed = [model_inputs[t.name] for t in self.flat.inputs] if isinstance(model_inputs, dict) else model_inputs
        if method in ("scorecam", "smoothgrad") and len(self.flat.inputs) > 1:
            change = "masks" if method == "scorecam" else "adds noise to"
            raise ValueError(f"tf-keras-vis's {VISUALIZATIONS[method].__name__} {change} every input of a model, and "
                             f"model '{explainer.model.name}' has the inputs {[t.name for t in self.flat.inputs]}; "
                             f"use kerasfg.vis.explain(model, inputs, {method!r}) instead.")
        if method in ("saliency", "smoothgrad"):
            options.setdefault("unconnected_gradients", tf.UnconnectedGradients.ZERO)  # integer inputs
            if method == "smoothgrad":
                options.setdefault("smooth_samples", 20)
        else:
            path = feature_layer(explainer.graph, output, layer)
            options.update(penultimate_layer=path.rsplit("/", 1)[-1], seek_penultimate_conv_layer=False)
            options.setdefault("expand_cam", False)
        if method not in self._visualizations:
            self._visualizations[method] = VISUALIZATIONS[method](self.flat, model_modifier=replace_to_linear)
        maps = self._visualizations[method](scores, seed, **options)
        if isinstance(maps, list):  # saliency of a multi-input model: one map per input
            maps = maps[[t.name for t in self.flat.inputs].index(explainer.inputs.image_name)]
        maps = np.asarray(maps, np.float32)
        if maps.shape[1:3] != image.shape[1:3]:
            maps = render.resize(maps, image.shape[1:3])
            maps = render.normalize(maps) if options.get("normalize_cam", True) else maps
        return maps
