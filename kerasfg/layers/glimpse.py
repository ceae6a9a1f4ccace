"""Where/what glimpse attention: the attention grid, the chosen high-resolution cells and their weighting.

The three layers of the feed-forward "where/what" attention model of ``002_c1e3dd09777d292a.txt``
(chapter 3, Figure 3.1; `kerasfg.models.glimpse` builds the whole network from them):

- `GlimpseGrid` turns a score map of the low-resolution ("where") stream into a ``k x k`` grid
  ``G >= 0`` that sums to 1 (a softmax over the ``k**2`` cells) and picks the ``n`` cells the patch
  stream looks at: the top ``n`` of ``G`` (hard attention), or a draw without replacement from ``G``
  during training (the thesis's "random patch sampling");
- `GlimpsePatches` cuts those cells, and only those, out of the high-resolution image;
- `GlimpseWeighting` weighs the pooled features of each chosen patch by its grid value: element-wise
  (Eq. 3.2, ``P* = g o P``, the chosen setting) or as a weighted sum (Eq. 3.1, ``P* = g . P``).

Hard attention: the chosen cells are indices, so no gradient reaches the grid through the choice
itself; the loss reaches ``G`` only through the grid values of the chosen cells, by the weighting
(and, through the softmax, every score of the where stream).
"""

import math

import keras
from keras import ops

from kerasfg.layers.base import AttentionLayer, check_rank

SELECTIONS = ("top", "sample")
WEIGHTINGS = ("eltwise", "weighted_sum", "none")


def _positive_int(layer_name, argument, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer_name}: `{argument}` must be a positive int; received {value!r}.")


@keras.saving.register_keras_serializable(package="kerasfg")
class GlimpseGrid(AttentionLayer):
    """The attention grid of the where stream and the cells the what stream looks at.

    ``G = softmax(s)`` over the ``k * k`` cells of a score map ``s`` (bilinearly resized to
    ``k x k`` when it has another size), computed in float32. The chosen cells are the indices
    ``i = r * k + c`` (row-major) of the ``n`` largest grid values, largest first; with
    ``selection="sample"`` they are drawn during training without replacement with probabilities
    ``G`` (Gumbel top-``n``), and are the top ``n`` at inference.

    Args:
        grid_size: ``k``, the grid has ``k x k`` cells.
        num_glimpses: ``n``, the number of cells chosen (at most ``k * k``).
        selection: ``"top"`` (the thesis's hard top-``n``) or ``"sample"``.
        seed: seed of the draws of ``selection="sample"``.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: a score map ``(batch, height, width, 1)``.
        training: whether cells are sampled (``selection="sample"`` only).
        return_attention: also return the maps ``{"grid": G, "chosen": 1 on the chosen cells}``,
            both float32 ``(batch, k, k, 1)``.

    Returns:
        ``[grid, cells]``: the flat grid ``(batch, k * k)`` float32, summing to 1 per example, and
        the chosen cells ``(batch, n)`` int32.
    """

    attention_map_names = ("grid", "chosen")

    def __init__(self, grid_size=16, num_glimpses=5, selection="top", seed=None, **kwargs):
        super().__init__(**kwargs)
        _positive_int(self.name, "grid_size", grid_size)
        _positive_int(self.name, "num_glimpses", num_glimpses)
        if num_glimpses > grid_size * grid_size:
            raise ValueError(f"{self.name}: `num_glimpses` ({num_glimpses}) cannot exceed the "
                             f"{grid_size * grid_size} cells of a {grid_size}x{grid_size} grid.")
        if selection not in SELECTIONS:
            raise ValueError(f"{self.name}: `selection` must be one of {SELECTIONS}; "
                             f"received {selection!r}.")
        self.grid_size = grid_size
        self.num_glimpses = num_glimpses
        self.selection = selection
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed) if selection == "sample" else None

    def build(self, input_shape):
        check_rank(self, input_shape, what="a score map (batch, height, width, 1)")
        if input_shape[-1] != 1:
            raise ValueError(f"GlimpseGrid '{self.name}' expects one score channel; received an input "
                             f"of shape {tuple(input_shape)}.")

    def call(self, inputs, training=None, return_attention=False):
        k = self.grid_size
        scores = ops.cast(inputs, "float32")
        if tuple(scores.shape[1:3]) != (k, k):
            scores = ops.image.resize(scores, (k, k), interpolation="bilinear")
        scores = ops.reshape(scores, (-1, k * k))
        # One cell takes the whole grid (softmax would warn that it is always 1).
        grid = ops.softmax(scores, axis=-1) if k > 1 else ops.ones_like(scores)
        keys = ops.stop_gradient(grid)
        if self.selection == "sample" and training:
            uniform = keras.random.uniform(ops.shape(keys), minval=1e-9, maxval=1.0,
                                           seed=self._seed_generator)
            keys = ops.log(keys + 1e-20) - ops.log(-ops.log(uniform))
        _, cells = ops.top_k(keys, self.num_glimpses, sorted=True)
        cells = ops.cast(cells, "int32")
        maps = {
            "grid": ops.reshape(grid, (-1, k, k, 1)),
            "chosen": ops.reshape(ops.sum(ops.one_hot(cells, k * k, dtype="float32"), axis=1), (-1, k, k, 1)),
        }
        return self._outputs([grid, cells], maps, return_attention)

    def compute_output_spec(self, inputs, training=None, return_attention=False):
        batch, k = inputs.shape[0], self.grid_size
        outputs = [keras.KerasTensor((batch, k * k), dtype="float32"),
                   keras.KerasTensor((batch, self.num_glimpses), dtype="int32")]
        maps = {name: keras.KerasTensor((batch, k, k, 1), dtype="float32") for name in self.attention_map_names}
        return self._outputs(outputs, maps, return_attention)

    def get_config(self):
        return {**super().get_config(), "grid_size": self.grid_size, "num_glimpses": self.num_glimpses,
                "selection": self.selection, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerasfg")
class GlimpsePatches(keras.layers.Layer):
    """Cut the chosen cells of a ``k x k`` grid out of an image: ``(batch * n, ph, pw, channels)``.

    The image is divided into ``k x k`` cells of ``ph x pw`` pixels, ``ph = ceil(height / k)`` and
    ``pw = ceil(width / k)`` (or ``patch_size``); when ``k * ph`` differs from the height (600 pixels
    and ``k = 16``: 37.5-pixel cells) the image is first resized bilinearly to ``(k * ph, k * pw)``.
    Only the chosen cells are gathered, so the network after this layer runs on ``n`` patches per
    image, never on all ``k**2``. Patch ``j`` of image ``b`` is row ``b * n + j`` of the output.

    Args:
        grid_size: ``k``.
        patch_size: ``(ph, pw)`` of a cell, or None for ``ceil(side / k)``.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``[image, cells]``: the image ``(batch, height, width, channels)`` and the chosen
            cells ``(batch, n)`` int (row-major indices, as `GlimpseGrid` gives them).
    """

    def __init__(self, grid_size=16, patch_size=None, **kwargs):
        super().__init__(**kwargs)
        _positive_int(self.name, "grid_size", grid_size)
        if patch_size is not None:
            patch_size = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
            for side in patch_size:
                _positive_int(self.name, "patch_size", side)
        self.grid_size = grid_size
        self.patch_size = patch_size

    def _cell_size(self, height, width):
        if self.patch_size is not None:
            return self.patch_size
        if height is None or width is None:
            return None, None
        return math.ceil(height / self.grid_size), math.ceil(width / self.grid_size)

    def build(self, input_shape):
        image_shape, cells_shape = input_shape
        check_rank(self, image_shape, what="an image (batch, height, width, channels)")
        check_rank(self, cells_shape, rank=2, what="chosen cells (batch, n)")

    def compute_output_shape(self, input_shape):
        image_shape, cells_shape = input_shape
        ph, pw = self._cell_size(*image_shape[1:3])
        batch = None if image_shape[0] is None or cells_shape[1] is None else image_shape[0] * cells_shape[1]
        return (batch, ph, pw, image_shape[-1])

    def call(self, inputs):
        image, cells = inputs
        k = self.grid_size
        shape = ops.shape(image)
        height, width, channels = image.shape[1], image.shape[2], image.shape[3]
        ph, pw = self._cell_size(height, width)
        if ph is None:  # spatial size known only at run time
            ph = ops.cast(ops.ceil(shape[1] / k), "int32")
            pw = ops.cast(ops.ceil(shape[2] / k), "int32")
            image = ops.image.resize(image, (k * ph, k * pw), interpolation="bilinear")
        elif (k * ph, k * pw) != (height, width):
            image = ops.image.resize(image, (k * ph, k * pw), interpolation="bilinear")
        batch = shape[0]
        # (b, k*ph, k*pw, c) -> (b * k * k, ph, pw, c): one row per cell, cells of an image in row-major order.
        cells_first = ops.transpose(ops.reshape(image, (batch, k, ph, k, pw, channels)), (0, 1, 3, 2, 4, 5))
        flat = ops.reshape(cells_first, (-1, ph, pw, channels))
        offsets = ops.arange(batch, dtype="int32")[:, None] * (k * k)
        return ops.take(flat, ops.reshape(ops.cast(cells, "int32") + offsets, (-1,)), axis=0)

    def get_config(self):
        return {**super().get_config(), "grid_size": self.grid_size,
                "patch_size": None if self.patch_size is None else list(self.patch_size)}


@keras.saving.register_keras_serializable(package="kerasfg")
class GlimpseWeighting(keras.layers.Layer):
    """Weigh the pooled features of the chosen patches by their grid values, in float32.

    With ``g`` the grid values of the ``n`` chosen cells (``(batch, n)``) and ``P`` their pooled
    features (``(batch, n, d)``):

    - ``"eltwise"``: ``P* = g o P`` (Eq. 3.2), flattened to ``(batch, n * d)`` with the patches in
      the order they were chosen (largest grid value first);
    - ``"weighted_sum"``: ``P* = g . P = sum_j g_j P_j`` (Eq. 3.1), ``(batch, d)``;
    - ``"none"``: ``P`` flattened, unweighted (Table 3.5's "No grid" ablation; the grid then gets no
      gradient from the loss).

    Args:
        mode: ``"eltwise"``, ``"weighted_sum"`` or ``"none"``.
        renormalize: divide ``g`` by its sum over the chosen cells (off by default: the thesis
            weighs by the grid values themselves, which sum to 1 over all ``k**2`` cells).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``[features, grid, cells]``: pooled patch features ``(batch * n, d)`` (rows in the
            order of `GlimpsePatches`), the flat grid ``(batch, k * k)`` and the chosen cells
            ``(batch, n)``.
    """

    def __init__(self, mode="eltwise", renormalize=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in WEIGHTINGS:
            raise ValueError(f"{self.name}: `mode` must be one of {WEIGHTINGS}; received {mode!r}.")
        self.mode = mode
        self.renormalize = renormalize

    def build(self, input_shape):
        features_shape, grid_shape, cells_shape = input_shape
        check_rank(self, features_shape, rank=2, what="pooled patch features (batch * n, d)")
        if features_shape[-1] is None or cells_shape[-1] is None:
            raise ValueError(f"GlimpseWeighting '{self.name}' needs a known feature size and number of "
                             f"cells; received features {tuple(features_shape)}, cells {tuple(cells_shape)}.")

    def compute_output_shape(self, input_shape):
        features_shape, grid_shape, cells_shape = input_shape
        d, n = features_shape[-1], cells_shape[-1]
        return (grid_shape[0], d if self.mode == "weighted_sum" else n * d)

    def call(self, inputs):
        features, grid, cells = inputs
        n, d = cells.shape[-1], features.shape[-1]
        patches = ops.reshape(ops.cast(features, "float32"), (-1, n, d))
        if self.mode == "none":
            return ops.reshape(patches, (-1, n * d))
        weights = ops.take_along_axis(ops.cast(grid, "float32"), ops.cast(cells, "int32"), axis=1)
        if self.renormalize:
            weights = weights / ops.sum(weights, axis=1, keepdims=True)
        weighted = patches * weights[:, :, None]
        if self.mode == "weighted_sum":
            return ops.sum(weighted, axis=1)
        return ops.reshape(weighted, (-1, n * d))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "renormalize": self.renormalize}
