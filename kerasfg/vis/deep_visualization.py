"""Deep visualization: images that a unit of a network responds to most, by regularized gradient ascent.

Yosinski et al.'s method as the thesis describes it (``papers/NOTES-004.md`` §1.2 (5)): start from a
random image, repeatedly step along the raw gradient of the unit's activation with respect to the
image, and regularize the image after every step. Several units, and several settings, are optimised
together, one image per unit and settings in one batch, by one compiled loop (`tf.function`) traced once:
the settings are tensors with one value per image (`settings_tensors`), the blur is a product with each
image's Gaussian blur matrices and the percentiles are TensorFlow sorts, so no step leaves the graph and the
four presets of a recording cost one trace and one loop.

Decisions where the thesis and its reference code leave a choice (NOTES §4, items 4-6):

- **Target.** A class score is the output's score before its softmax or sigmoid (`ModelGraph` with
  ``logits=True``), for any output of a multi-output model. A unit of a convolution layer is, by
  default, the activation of its filter at the centre of the feature map (``spatial="center"``),
  the single unit that Yosinski et al. and the reference optimise; ``spatial="mean"`` maximises the
  filter's mean activation over all positions instead. A unit of a dense layer is its activation.
- **Image space.** The optimisation runs in the model's input space. The regularizers act on the
  image's deviation from the centre of ``input_range`` (the "zero" of a mean-subtracted image in the
  reference): L2 decay shrinks towards that grey, clipping sets pixels to it. After every step the
  image is clipped to ``input_range`` (our addition: the reference only clips at the end), so the
  result is a valid input. ``input_range=None`` means an unbounded, zero-centred input space.
- **Start.** Gaussian noise around the centre with ``start_std`` times the range's width (default
  10/255, the reference's N(0, 10) on 0..255 pixels), from a given seed; or zeros (the centre).
- **Step.** By default (``step="normalized"``) each step moves the image along its gradient divided by
  the gradient's root mean square over the image, times ``learning_rate`` times the width of the input
  range: a learning rate of 0.05 moves a typical pixel by 5% of the input range, whether the model takes
  pixels in 0..255, 0..1, -1..1 or mean-subtracted, and however large its activations are, so the
  presets keep their meaning on every model. ``step="raw"`` is the thesis's reference step,
  ``x += learning_rate * gradient`` with the raw gradient (its learning rates of 200 and 2500 only make
  sense on a model whose gradients have the size of its MNIST network's, on 0..255 pixels).
- **Order of the regularizers** (after each step, fixed): L2 decay, blur (every ``blur_every``-th
  step, counting from 1), value clip, norm clip, contribution clip, absolute-contribution clip.
- **Percentiles** are taken over each image as a whole (the reference's ``np.percentile``, linear
  interpolation): of the absolute values of all pixels and channels (value), of the pixels' norms
  over channels (norm), of the pixels' contributions summed over channels (contribution). A pixel
  below the percentile is set to the centre.
- **Contribution** is the image (its deviation from the centre) times the gradient of the step,
  summed over channels: the first-order estimate of the activation lost if the pixel were set to the
  centre. We follow the thesis text ("the elementwise product of the visualization and the
  gradient"), not the reference code's ``-x * grad``: with the minus sign the clip would zero the
  pixels that help the activation most.
- **Jitter** (``jitter``, off in the presets; our addition, not in the thesis or Yosinski et al.): every
  step but the first takes its gradient on the image shifted by a random offset of up to ``jitter`` pixels
  along each axis (rolled, so what leaves one side comes back on the other), as DeepDream and Olah et al.'s
  "transformation robustness" do. A strided network sees each pixel at one phase of its strides only, so an
  unjittered ascent paints patterns with the period of its total stride (8 pixels on the quick-start
  model); jitter averages them out. The shifts are drawn from the step number, so an ascent is
  reproducible. The reported activations are those of the unshifted start and final images.
- **Presets** are the four rows of the thesis's Table 2.1, copied from Yosinski et al.'s random
  search, see `PRESETS`.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from kerasfg.vis.blur import blur_matrix, blur_with
from kerasfg.vis.compiled import RecordingFunction
from kerasfg.vis.introspect import ModelGraph, output_tensor

_PERCENTILES = ("value_percentile", "norm_percentile", "contribution_percentile", "abs_contribution_percentile")
STEPS = ("normalized", "raw")


@dataclasses.dataclass(frozen=True)
class DeepVisSettings:
    """How a deep visualization optimises its images (every regularizer is off at its default, 0).

    Args:
        learning_rate: the step size: for ``step="normalized"``, the root mean square of a step as a share of
            the input range's width; for ``step="raw"``, the factor of the raw gradient (the thesis's MNIST
            setting: 200).
        steps: number of gradient steps (the thesis: 50 for MNIST, 500 or 1000 for VGG16).
        step: ``"normalized"`` (the gradient divided by its root mean square over the image, scaled to the
            input range: the same step on every model) or ``"raw"`` (the thesis's raw gradient step).
        l2_decay: in [0, 1]; after each step the image's deviation from the centre is multiplied by
            ``1 - l2_decay``.
        blur_every: blur every this many steps (0: never); needs ``blur_std`` too.
        blur_std: standard deviation in pixels of the Gaussian blur (0: no blur).
        value_percentile: in [0, 100]; pixels whose absolute value (per channel) is below this
            percentile are set to the centre.
        norm_percentile: in [0, 100]; pixels whose norm over channels is below this percentile are
            set to the centre.
        contribution_percentile: in [0, 100]; the same for the pixels' contributions.
        abs_contribution_percentile: in [0, 100]; the same for the absolute contributions.
        start: ``"noise"`` (Gaussian, seeded) or ``"zeros"`` (the centre of the input range).
        start_std: standard deviation of the start noise, as a fraction of the input range's width
            (of 1 when the input range is unbounded).
        jitter: largest random shift, in pixels along each axis, of the image whose gradient a step takes
            (0: none); see the module docstring.
    """

    learning_rate: float = 0.05
    steps: int = 50
    step: str = "normalized"
    l2_decay: float = 0.0
    blur_every: int = 0
    blur_std: float = 0.0
    value_percentile: float = 0.0
    norm_percentile: float = 0.0
    contribution_percentile: float = 0.0
    abs_contribution_percentile: float = 0.0
    start: str = "noise"
    start_std: float = 10 / 255
    jitter: int = 0

    def __post_init__(self):
        if self.steps < 1 or min(self.blur_every, self.blur_std, self.start_std, self.jitter) < 0:
            raise ValueError(f"DeepVisSettings: steps must be positive and blur_every, blur_std, start_std and "
                             f"jitter non-negative; received {self}.")
        if not 0 <= self.l2_decay <= 1:
            raise ValueError(f"DeepVisSettings: l2_decay must be in [0, 1]; received {self.l2_decay}.")
        for name in _PERCENTILES:
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"DeepVisSettings: {name} must be in [0, 100]; received {getattr(self, name)}.")
        if self.step not in STEPS:
            raise ValueError(f"DeepVisSettings: step must be one of {STEPS}; received {self.step!r}.")
        if self.start not in ("noise", "zeros"):
            raise ValueError(f"DeepVisSettings: start must be 'noise' or 'zeros'; received {self.start!r}.")

    @property
    def blurs(self):
        """Whether the settings blur at all (both ``blur_every`` and ``blur_std`` set)."""
        return self.blur_every > 0 and self.blur_std > 0


PRESETS = {
    # Table 2.1 of the thesis (Yosinski et al. 2015, Table 1); learning rate and steps are the
    # DeepVisSettings defaults (the thesis's MNIST run), override them with dataclasses.replace.
    "row1": DeepVisSettings(blur_every=4, blur_std=0.5, norm_percentile=50),  # a sparse set of important regions
    "row2": DeepVisSettings(l2_decay=0.3, norm_percentile=20),  # high-frequency patterns
    "row3": DeepVisSettings(l2_decay=0.0001, blur_every=4, blur_std=1.0),  # low-frequency patterns; best alone
    # Dense pixel data. Printed in the thesis as blur every 4 with std 0.5; NOTES-004 §4 item 5 suspects
    # (unverified) that Yosinski et al.'s original row has no blur. We keep the thesis's values.
    "row4": DeepVisSettings(blur_every=4, blur_std=0.5, abs_contribution_percentile=90),
}


def resolve_settings(settings):
    """``(preset name or None, DeepVisSettings)`` of a preset name or a `DeepVisSettings`."""
    if isinstance(settings, DeepVisSettings):
        return None, settings
    if settings not in PRESETS:
        raise ValueError(f"Unknown deep visualization preset {settings!r}; expected one of {sorted(PRESETS)} or "
                         "a DeepVisSettings.")
    return settings, PRESETS[settings]


def percentile(values, q):
    """The ``q``-th percentile of each row of ``values`` `(batch, n)`, as `(batch, 1)`.

    Linear interpolation between the sorted values, as ``np.percentile``'s default. ``q`` is one number
    for every row, or a tensor `(batch,)` with one per row.
    """
    ordered = tf.sort(values, axis=1)
    q = tf.broadcast_to(tf.cast(q, values.dtype), tf.shape(values)[:1])
    position = q / 100 * (values.shape[1] - 1)
    low = tf.floor(position)
    below = tf.gather(ordered, tf.cast(low, tf.int32)[:, None], batch_dims=1)
    above = tf.gather(ordered, tf.cast(tf.math.ceil(position), tf.int32)[:, None], batch_dims=1)
    return below + (position - low)[:, None] * (above - below)


def _clip_thresholds(values, q):
    """The ``q``-th `percentile` `(batch, 1)` of the rows of ``values`` `(batch, n)` whose ``q`` `(batch,)` is
    above 0, and -inf (every value kept) for the others, which a percentile of 0 keeps too: only the rows
    that clip are sorted (a sort of the pixels of a 64x64 image costs as much as a forward pass's layer)."""
    rows = tf.where(q > 0)[:, 0]
    clipped = percentile(tf.gather(values, rows), tf.gather(q, rows))
    every = tf.fill([tf.shape(values)[0], 1], tf.constant(-np.inf, values.dtype))
    return tf.tensor_scatter_nd_update(every, rows[:, None], clipped)


def _rows(values):
    """``values`` `(batch, ...)` as `(batch, n)`, with ``n`` known when the graph is traced."""
    return tf.reshape(values, (-1, int(np.prod(values.shape[1:]))))


def _keep_at_least(image, scores, q):
    """Zero the pixels of ``image`` `(b, h, w, c)` whose ``scores`` `(b, h, w)` are below their percentile
    (``q``: one per image); a percentile of 0 keeps every pixel."""
    flat = _rows(scores)
    keep = tf.cast(flat >= _clip_thresholds(flat, q), image.dtype)
    return image * tf.reshape(keep, tf.shape(scores))[..., None]


def settings_tensors(settings, image_shape):
    """The regularization and step of each image of a batch, as arrays the compiled ascent takes.

    Args:
        settings: a `DeepVisSettings` per image of the batch.
        image_shape: ``(height, width, channels)``.

    Returns:
        ``{name: array (batch, ...)}``: ``learning_rate``, ``normalized`` (1 for the normalized step, 0 for
        the raw one), ``l2_decay``, ``blur_every`` (0 where the settings do not blur), the four percentiles,
        ``steps`` and ``jitter``, and ``blur_rows`` `(batch, h, h)` and ``blur_cols`` `(batch, w, w)`, the
        `kerasfg.vis.blur.blur_matrix` of each image's blur (the identity where it does not blur).
    """
    height, width = image_shape[:2]
    floats = {name: np.array([getattr(each, name) for each in settings], np.float32)
              for name in ("learning_rate", "l2_decay", *_PERCENTILES)}
    return {**floats,
            "normalized": np.array([each.step == "normalized" for each in settings], np.float32),
            "blur_every": np.array([each.blur_every if each.blurs else 0 for each in settings], np.int32),
            "steps": np.array([each.steps for each in settings], np.int32),
            "jitter": np.array([each.jitter for each in settings], np.int32),
            "blur_rows": np.stack([blur_matrix(height, each.blur_std if each.blurs else 0) for each in settings]
                                  ).astype(np.float32),
            "blur_cols": np.stack([blur_matrix(width, each.blur_std if each.blurs else 0) for each in settings]
                                  ).astype(np.float32)}


def settings_signature(image_shape):
    """The `tf.TensorSpec`s of `settings_tensors` for a batch of any size."""
    height, width = image_shape[:2]
    specs = {name: tf.TensorSpec((None,), tf.float32) for name in ("learning_rate", "l2_decay", "normalized",
                                                                   *_PERCENTILES)}
    return {**specs, **{name: tf.TensorSpec((None,), tf.int32) for name in ("blur_every", "steps", "jitter")},
            "blur_rows": tf.TensorSpec((None, height, height), tf.float32),
            "blur_cols": tf.TensorSpec((None, width, width), tf.float32)}


def regularize(image, gradient, step, settings):
    """One step's regularization of a centred image `(b, h, w, c)`, in the fixed order of the module docstring.

    Args:
        image: the image after the gradient step, as its deviation from the input range's centre.
        gradient: the gradient of that step.
        step: the step number, from 1 (a tensor inside the compiled loop).
        settings: a `DeepVisSettings` for every image, or `settings_tensors` (as tensors) with one per image.
    """
    if isinstance(settings, DeepVisSettings):
        settings = settings_tensors([settings] * image.shape[0], image.shape[1:])
    image = image * (1 - settings["l2_decay"])[:, None, None, None]
    blur_every = settings["blur_every"]
    blurs = tf.logical_and(blur_every > 0, tf.math.floormod(step, tf.maximum(blur_every, 1)) == 0)
    image = tf.cond(tf.reduce_any(blurs), lambda: tf.where(
        blurs[:, None, None, None], blur_with(image, settings["blur_rows"], settings["blur_cols"]), image),
        lambda: image)

    def value_clip(image):
        threshold = _clip_thresholds(_rows(tf.abs(image)), settings["value_percentile"])
        return image * tf.cast(tf.abs(image) >= threshold[:, :, None, None], image.dtype)

    image = _if_any(settings["value_percentile"], value_clip, image)
    image = _if_any(settings["norm_percentile"], lambda image: _keep_at_least(
        image, tf.norm(image, axis=-1), settings["norm_percentile"]), image)
    contribution = tf.reduce_sum(image * gradient, axis=-1)  # of the image before both clips: each ranks by it
    image = _if_any(settings["contribution_percentile"], lambda image: _keep_at_least(
        image, contribution, settings["contribution_percentile"]), image)
    return _if_any(settings["abs_contribution_percentile"], lambda image: _keep_at_least(
        image, tf.abs(contribution), settings["abs_contribution_percentile"]), image)


def _if_any(percentiles, clip, image):
    """``clip(image)`` when any image of the batch clips at a percentile above 0 (a percentile of 0 keeps
    every pixel), else ``image``: the batch skips the sorts of the clips no image uses."""
    return tf.cond(tf.reduce_any(percentiles > 0), lambda: clip(image), lambda: image)


@dataclasses.dataclass
class Ascent:
    """What a deep visualization computed (`DeepVisualizer.ascend`).

    Attributes:
        images: float32 `(units, h, w, c)`, in the input range.
        activations: each unit's activation on its final image.
        start_activations: each unit's activation on its start image.
    """

    images: np.ndarray
    activations: np.ndarray
    start_activations: np.ndarray


class DeepVisualizer:
    """Optimise images that maximise units of a model: a class score of an output, or units of a layer.

    Compiles its ascent loop once; call it again (for example after more training) to recompute.
    See the module docstring for the method and its decisions.

    Args:
        model: a built Keras model (Functional, Sequential, nested, multi-input or multi-output).
        layer: path or unique name of the layer whose units (dense units or convolution filters) to
            maximise; or
        output: the name of the output whose class scores (before the softmax) to maximise; the
            model's only output by default.
        settings: a `DeepVisSettings`, or the name of one of `PRESETS` (default ``"row3"``).
        input_range: ``(low, high)`` of the model's image input (default 0..255 pixels), or None.
        spatial: for convolution filters, ``"center"`` (the unit at the centre of the map) or
            ``"mean"`` (the filter's mean activation).

    The image input is optimised (`kerasfg.vis.introspect.ModelInputs`: the only 4-D input, or the one
    named ``"image"``); a multi-input model's other inputs are zeros.

    Call arguments:
        units: a list of unit (class, filter) indices, one image each; repeat a unit for several
            samples of it.
        seed: the seed of the start noise.

    Returns:
        ``(images, activations)``: float32 `(len(units), h, w, c)` in ``input_range``, and the
        final activation of each unit on its image.

    Example:

    ```python
    visualizer = DeepVisualizer(model, output="identity", settings="row3")
    images, scores = visualizer([0, 1, 2, 3], seed=1)
    ```
    """

    def __init__(self, model, *, layer=None, output=None, settings="row3", input_range=(0.0, 255.0),
                 spatial="center"):
        if layer is not None and output is not None:
            raise ValueError("Pass a layer or an output to visualize, not both.")
        if spatial not in ("center", "mean"):
            raise ValueError(f"spatial must be 'center' or 'mean'; received {spatial!r}.")
        self.graph = ModelGraph(model)
        self.preset, self.settings = resolve_settings(settings)
        self.layer = None if layer is None else self.graph.find(layer)
        if self.layer is None:
            names = self.graph.output_names
            output = names[0] if output is None and len(names) == 1 else output
            if output not in names:
                raise ValueError(f"Choose one of the outputs {names} of model '{model.name}'; received {output!r}.")
        self.output = output
        self.input_range = None if input_range is None else tuple(float(v) for v in input_range)
        self.spatial = spatial
        self.image_shape = self.graph.inputs.image_shape
        target = output_tensor(model, self.output) if self.layer is None else self.graph.layers[self.layer].output
        self.unit_count = target.shape[-1]
        signature = (tf.TensorSpec((None, *self.image_shape), tf.float32), tf.TensorSpec((None,), tf.int32),
                     tf.TensorSpec((), tf.float32), settings_signature(self.image_shape))
        # one trace for any number of units and any settings
        self._ascend = RecordingFunction(self._ascent, input_signature=signature)

    @property
    def target(self):
        """The layer path or output name whose units are visualized."""
        return self.layer or self.output

    def __call__(self, units, seed=0):
        ascent = self.ascend(units, seed)
        return ascent.images, ascent.activations

    def ascend(self, units, seed=0):
        """Like calling the visualizer, and also the activations of the start images: an `Ascent`."""
        return self.ascend_each(units, [self.settings], seed)[0]

    def ascend_each(self, units, settings, seed=0):
        """An `Ascent` of ``units`` for each of several settings, all optimised together in one batch.

        The ascent is compiled once for any settings (they are tensors of the loop, one per image), so the
        presets of a recording cost one trace and one loop, not one each. Each settings' images start from
        the same noise as `ascend` with those settings and reach the same images.

        Args:
            units: unit (class, filter) indices, one image each per settings.
            settings: a list of preset names of `PRESETS` or `DeepVisSettings`.
            seed: the seed of the start noise.

        Returns:
            A list of `Ascent`, one per settings.
        """
        units = np.asarray(units, np.int32).reshape(-1)
        if not units.size or units.min() < 0 or units.max() >= self.unit_count:
            raise ValueError(f"units must be a non-empty list of indices below {self.unit_count}, the units of "
                             f"'{self.target}'; received {units.tolist()}.")
        settings = [resolve_settings(each)[1] for each in settings]
        low, high = self.input_range or (-0.5, 0.5)
        shape = (len(units), *self.image_shape)
        starts = [np.zeros(shape) if each.start == "zeros" else
                  np.random.default_rng(seed).normal(0, each.start_std * (high - low), shape) for each in settings]
        per_image = settings_tensors([each for each in settings for _ in units], self.image_shape)
        images, activations, first = self._ascend(tf.constant(np.concatenate(starts), tf.float32),
                                                  tf.constant(np.tile(units, len(settings))),
                                                  tf.constant((low + high) / 2, tf.float32),
                                                  {name: tf.constant(value) for name, value in per_image.items()})
        parts = [np.split(np.asarray(value), len(settings)) for value in (images, activations, first)]
        return [Ascent(*each) for each in zip(*parts)]

    def activations(self, images, units):
        """The activation of each unit on its image `(len(units), h, w, c)` (a tensor), in-graph."""
        inputs = self._inputs(images)
        if self.layer is None:
            outputs, _ = self.graph(inputs, logits=True)
            values = outputs[self.output]
        else:
            _, taps = self.graph(inputs, taps=[self.layer])
            values = taps[self.layer]
        if values.shape.rank == 4:
            values = values[:, values.shape[1] // 2, values.shape[2] // 2] if self.spatial == "center" else (
                tf.reduce_mean(values, axis=(1, 2)))
        elif values.shape.rank != 2:
            raise ValueError(f"Deep visualization maximises dense units or convolution filters; '{self.target}' "
                             f"outputs {values.shape}.")
        return tf.gather(tf.cast(values, tf.float32), units, axis=1, batch_dims=1)

    def _inputs(self, images):
        inputs = self.graph.inputs
        return inputs.join(images, inputs.zeros(tf.shape(images)[0]))

    def _ascent(self, start, units, centre, settings):
        """The compiled loop: the centred ``start`` images, each updated for its own number of steps with its own
        `settings_tensors`; then the images, their activations and the start images' activations.

        The loop body is traced once and runs ``max(steps) + 1`` times: an image whose steps are done is kept
        as it is, and the last run only evaluates the final images (no gradient, no update), so the model is
        traced once, not a second time after the loop.
        """
        low, high = self.input_range or (-np.inf, np.inf)
        width = high - low if self.input_range else 1.0
        steps = settings["steps"]
        rate = settings["learning_rate"][:, None, None, None]
        normalized = settings["normalized"][:, None, None, None] > 0

        def ascend(step, image, _, first):
            with tf.GradientTape() as tape:
                tape.watch(image)
                activations = self.activations(jittered(image, step) + centre, units)
                score = tf.reduce_sum(activations)

            def update():
                gradient = tape.gradient(score, image)
                rms = tf.sqrt(tf.reduce_mean(tf.square(gradient), axis=[1, 2, 3], keepdims=True))
                moved = image + rate * tf.where(normalized, width * tf.math.divide_no_nan(gradient, rms), gradient)
                updated = tf.clip_by_value(regularize(moved, gradient, step, settings), low - centre, high - centre)
                return tf.where((step <= steps)[:, None, None, None], updated, image)

            first = tf.where(step == 1, activations, first)
            return step + 1, tf.cond(step <= tf.reduce_max(steps), update, lambda: image), activations, first

        def jittered(image, step):
            jitter = settings["jitter"]
            uniform = tf.random.stateless_uniform((1, 2), seed=tf.stack([step, 0]))
            choices = tf.cast(2 * jitter + 1, tf.float32)[:, None]  # -jitter .. jitter
            shifts = tf.cast(tf.floor(uniform * choices), tf.int32) - jitter[:, None]
            shifted = tf.logical_and(step > 1, step <= steps)  # the reported activations: unshifted
            shifts = tf.where(shifted[:, None], shifts, 0)
            return tf.cond(tf.reduce_any(shifts != 0), lambda: roll_each(image, shifts), lambda: image)

        zeros = tf.zeros_like(units, tf.float32)
        _, image, activations, first = tf.while_loop(lambda step, *_: step <= tf.reduce_max(steps) + 1, ascend,
                                                     (tf.constant(1), start, zeros, zeros))
        return image + centre, activations, first


def roll_each(images, shifts):
    """Each image of ``images`` `(batch, h, w, c)` rolled by its own ``shifts`` `(batch, 2)` along height and
    width, as `tf.roll` rolls one: what leaves one side comes back on the other."""
    height, width = images.shape[1:3]
    rows = tf.math.floormod(tf.range(height)[None] - shifts[:, :1], height)
    cols = tf.math.floormod(tf.range(width)[None] - shifts[:, 1:], width)
    return tf.gather(tf.gather(images, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def deep_visualization(model, units, *, layer=None, output=None, settings="row3", seed=0, input_range=(0.0, 255.0),
                       spatial="center"):
    """Images that maximise units of a model, by regularized gradient ascent (one-off `DeepVisualizer`).

    Args:
        model: a built Keras model.
        units: unit (class or filter) indices, one image each.
        layer, output, settings, input_range, spatial: see `DeepVisualizer`.
        seed: the seed of the start noise.

    Returns:
        ``(images (len(units), h, w, c) in input_range, final activations (len(units),))``.
    """
    visualizer = DeepVisualizer(model, layer=layer, output=output, settings=settings, input_range=input_range,
                                spatial=spatial)
    return visualizer(units, seed=seed)
