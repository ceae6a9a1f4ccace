"""Zeiler and Fergus's deconvnet, through the whole graph of any model.

A deconvnet projects one activation of a layer back to pixel space by running the network backwards:
each linear step of the forward pass is transposed (a convolution becomes the transposed convolution with
the same, flipped, filters), max pooling is undone at its switches (the positions of the maxima), and
every rectification is applied to the projected signal itself. That is the gradient of the layer's
output with respect to the image, except at the non-linearities, so `Deconvnet` runs the model's own
graph (`kerasfg.vis.introspect.ModelGraph`) under a gradient tape with the deconvnet's rules swapped in,
and takes the gradient of the chosen feature map's strongest activation. Every layer of the graph is
then inverted the way its structure says:

- ``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D``, ``Dense``: the transpose of the linear map (the
  transposed convolution, no bias);
- ``Add``: the signal goes to every input; ``Concatenate``: it is split among the inputs; ``Multiply`` by
  a tensor of the image: linearised at the forward values;
- ``BatchNormalization`` (inference): multiplication by its scale ``gamma / sqrt(variance + epsilon)``,
  the transpose of its linear part (dividing by the scale, its inverse, blows up channels whose variance
  is tiny); ``Rescaling``: its scale; padding and cropping: cropping and padding;
- ``MaxPooling2D``: unpooling at the switches of the forward pass (the first maximum of each window;
  where windows overlap, the values routed to one position add up); ``GlobalMaxPooling2D`` likewise;
  average pooling and ``GlobalAveragePooling2D``: the signal spread evenly over each window;
- every activation of the network's body (ReLU and its variants, ELU, any ``activation=``): a ReLU of the
  projected signal, whatever the forward non-linearity was, as in Zeiler and Fergus's deconvnet;
- the gates of kerasfg's attention layers (squeeze-and-excitation, ECA, CBAM, attention branch): held
  constant at their forward values, so the signal is multiplied by the gate
  (`kerasfg.layers.base.gates_held`);
- anything else (self-attention, other products of two image-dependent tensors): linearised at its
  forward values, i.e. its gradient.

Switches. The deconvnet's reconstructions are specific to the image through the switches, the positions
that the forward pass records and the backward pass follows; Zeiler and Fergus's network records them at
its max-pooling layers only. Where a network downsamples with strided convolutions instead (the stages of
a ResNet after its stem's pooling; the quick-start model, which has no pooling at all) there are no
switches: the deconvnet of that part is a fixed linear map followed by fixed rectifications, so the
reconstruction of a feature map depends on the image mostly through the position of its strongest
activation (and the held attention gates) and looks alike on every image, as Springenberg et al. showed for
their all-convolutional network. With ``switches="relu"`` the deconvnet also records a
switch at every rectification: the signal passes a ReLU where it is positive (the deconvnet's rule) and
where the forward ReLU let its input through, which is Springenberg et al.'s guided backpropagation from one
activation; for other activations, their own derivative at the forward input is applied to the rectified
signal. ``switches="auto"`` (the default) records them unless Zeiler and Fergus's switches reach the layer:
unless max pooling lies between the image and the layer and every other downsampling (strided convolution,
average pooling) comes before a max pooling. A network like theirs (or VGG) gets their deconvnet unchanged; a
ResNet, whose stages downsample by strided convolutions after the stem's pooling, gets switches at the ReLUs.

For each image, the ``top_n`` feature maps with the largest maximum are projected, one at a time: every
activation of the layer is zeroed except the largest of that map, as in the paper. The batch goes forward
once with a copy of each image per projected feature map, and one backward pass projects them all, in one
compiled function (``top_n`` backward passes of one forward pass would cost ``top_n`` times the tracing).

References: Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014;
Springenberg, Dosovitskiy, Brox and Riedmiller, "Striving for Simplicity: The All Convolutional Net",
ICLR 2015 workshop (section 3.4).
"""

import keras
import numpy as np
import tensorflow as tf

from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.introspect import ModelGraph, feature_layer, output_rank, upstream

SWITCHES = ("auto", "pooling", "relu")
"""Where the deconvnet records switches: ``"pooling"`` at max pooling (Zeiler and Fergus), ``"relu"`` also at
every rectification, ``"auto"`` at the rectifications too where the network downsamples without max pooling
after its last max pooling before the layer, or has none."""

_MAX_POOLING = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)


def rectified_backwards(activation):
    """``activation`` in the forward pass; a ReLU of the incoming signal in the backward pass (the deconvnet's
    rectification, which does not look at the forward input)."""

    @tf.custom_gradient
    def deconvnet_activation(x):
        def gradient(upstream, variables=None):  # an activation with weights (PReLU) gets none back
            rectified = tf.nn.relu(upstream)
            return (rectified, [tf.zeros_like(v) for v in variables]) if variables else rectified

        return activation(x), gradient

    return deconvnet_activation


def switched_backwards(activation):
    """``activation`` in the forward pass; in the backward pass, the deconvnet's ReLU of the incoming signal
    followed by the activation's own derivative at the forward input (for a ReLU: a switch that passes the
    signal where the forward input was positive), i.e. guided backpropagation."""

    @tf.custom_gradient
    def switched_activation(x):
        with tf.GradientTape(persistent=True) as local:  # one backward pass per projected feature map
            local.watch(x)
            y = activation(x)

        def gradient(upstream, variables=None):
            rectified = local.gradient(y, x, output_gradients=tf.nn.relu(upstream))
            return (rectified, [tf.zeros_like(v) for v in variables]) if variables else rectified

        return y, gradient

    return switched_activation


def keep_maximum(feature_maps, channels):
    """Feature maps with every entry zeroed but the maximum of the chosen channel, one per row.

    Args:
        feature_maps: `(batch, h, w, c)` activations.
        channels: `(batch,)` the channel to keep for each row.

    Returns:
        A tensor shaped like ``feature_maps``: row ``i`` holds only the largest entry of its
        channel ``channels[i]`` (the first one in row-major order on ties), at its position.
    """
    maps = tf.gather(feature_maps, channels, axis=3, batch_dims=1)  # (batch, h, w)
    flat = tf.reshape(maps, (tf.shape(maps)[0], -1))
    hot = tf.one_hot(tf.argmax(flat, axis=1), tf.shape(flat)[1], dtype=feature_maps.dtype)
    single = tf.reshape(hot * flat, tf.shape(maps))
    return single[..., None] * tf.one_hot(channels, tf.shape(feature_maps)[3], dtype=feature_maps.dtype)[:, None, None]


class Deconvnet:
    """Project the strongest feature maps of a layer back to the image with a Zeiler-Fergus deconvnet.

    See the module docstring for how each layer is inverted.

    Args:
        model: a built Keras model (Functional, Sequential, nested, multi-input or multi-output).
        layer: path or unique name of a layer with 4-D feature maps `(batch, h, w, c)`; by default the last
            spatial layer before the head (`kerasfg.vis.introspect.feature_layer`, the layer Grad-CAM weighs).
        switches: ``"pooling"``: switches at max pooling only, Zeiler and Fergus's deconvnet; ``"relu"``: also at
            every rectification (guided backpropagation from one activation), which makes the reconstruction
            specific to the image in networks that downsample without max pooling; ``"auto"``: ``"pooling"``
            when max pooling lies between the image and ``layer`` and every strided convolution or average
            pooling there comes before a max pooling, else ``"relu"`` (see the module docstring). The choice
            made is `Deconvnet.switches`.

    Call arguments:
        inputs: a batch in the form the model takes (an array, or a dict of named inputs); the image input
            is the only 4-D input, or the one named ``"image"``.
        top_n: how many feature maps to reconstruct per image: the ``top_n`` with the largest
            maximum activation, strongest first.

    Returns:
        ``(reconstructions, feature_maps)``: float32 `(batch, top_n, height, width, channels)` in
        the space of the image input, and int `(batch, top_n)` channel indices.
        Reconstruction ``[i, k]`` keeps only the largest entry of feature map ``feature_maps[i, k]``
        of image ``i`` and zeroes every other activation of the layer.

    Example:

    ```python
    deconvnet = Deconvnet(model, "stage4_block2_out")
    reconstructions, indices = deconvnet(images, top_n=9)
    ```
    """

    def __init__(self, model, layer=None, *, switches="auto"):
        if switches not in SWITCHES:
            raise ValueError(f"switches must be one of {SWITCHES}; received {switches!r}.")
        self.graph = ModelGraph(model)
        self.layer = feature_layer(self.graph) if layer is None else self.graph.find(layer)
        rank = output_rank(self.graph.layers[self.layer])
        if rank not in (None, 4):
            raise ValueError(f"The deconvnet projects feature maps (batch, height, width, channels); layer "
                             f"'{self.layer}' has a {rank}-D output.")
        self.switches = switches if switches != "auto" else "pooling" if self._switched_at_pooling() else "relu"
        self.channels = self.graph.layers[self.layer].output.shape[-1]
        self._projections = {}

    def _switched_at_pooling(self):
        """Whether max pooling lies between the image and the layer and every other downsampling (a strided
        convolution, average pooling) precedes a max pooling: whether Zeiler and Fergus's switches reach the
        layer."""
        before = upstream(self.graph, self.layer)
        pools = [path for path in before if isinstance(self.graph.layers[path], _MAX_POOLING)]
        strided = [path for path in before if path not in pools
                   and max(getattr(self.graph.layers[path], "strides", None) or (1,)) > 1]
        before_pools = {path for pool in pools for path in upstream(self.graph, pool)}
        return bool(pools) and all(path in before_pools for path in strided)

    def __call__(self, inputs, top_n=9):
        if not 1 <= top_n <= self.channels:
            raise ValueError(f"top_n must be between 1 and the {self.channels} feature maps of '{self.layer}'; "
                             f"received {top_n}.")
        image, rest = self.graph.inputs.split(inputs)
        image = tf.convert_to_tensor(np.asarray(image, np.float32))
        rest = {name: tf.convert_to_tensor(value) for name, value in rest.items()}
        if top_n not in self._projections:
            self._projections[top_n] = RecordingFunction(lambda image, rest: self._reconstruct(image, rest, top_n))
        reconstructions, indices = self._projections[top_n](image, rest)
        return np.asarray(reconstructions, np.float32), np.asarray(indices)

    def _reconstruct(self, image, rest, top_n):
        # Each image goes ``top_n`` times, a copy per projected feature map, so that one backward pass projects
        # them all: the graph holds one backward pass, not ``top_n``, which costs as much to trace as to run.
        copies = tf.repeat(image, top_n, axis=0)
        with tf.GradientTape() as tape:
            tape.watch(copies)
            run = self.graph.run(self.graph.inputs.join(copies, {name: tf.repeat(value, top_n, axis=0)
                                                                 for name, value in rest.items()}),
                                 taps=[self.layer], wrap_activations=rectified_backwards if self.switches == "pooling"
                                 else switched_backwards, hold_gates=True)
            features = run.taps[self.layer]
        strongest = tf.math.top_k(tf.reduce_max(tf.cast(features[::top_n], tf.float32), axis=(1, 2)), k=top_n).indices
        signals = keep_maximum(features, tf.reshape(strongest, [-1]))
        projections = tape.gradient(features, copies, output_gradients=signals)
        if projections is None:
            raise ValueError(f"Layer '{self.layer}' does not depend on the image input of model "
                             f"'{self.graph.model.name}'; the deconvnet has nothing to project.")
        return tf.reshape(projections, tf.concat([[-1, top_n], tf.shape(image)[1:]], 0)), strongest


def deconvolution(model, inputs, layer=None, top_n=9, *, switches="auto"):
    """Deconvnet reconstructions of the ``top_n`` strongest feature maps of ``layer`` for each input.

    A one-off `Deconvnet(model, layer, switches=switches)(inputs, top_n)`; keep a `Deconvnet` to project
    repeatedly. ``layer`` is by default the last spatial layer before the head.

    Returns:
        ``(reconstructions (batch, top_n, h, w, c), feature map indices (batch, top_n))``.
    """
    return Deconvnet(model, layer, switches=switches)(inputs, top_n)
