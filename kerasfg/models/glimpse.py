"""The where/what glimpse attention network for age and gender (``002_c1e3dd09777d292a.txt``, Figure 3.1).

One image input, at high resolution (600x600 in the thesis; any size works), feeds two streams:

- **where**: the image resized to ``low_resolution`` (224x224 by default: the thesis does not state it;
  it is VGG-16's and VGG-Face's input size) goes through the five conv blocks of VGG-16. With
  ``trunk="vgg_face"`` (default, the thesis's initialization) the layers have VGG-Face's names
  (``conv1_1`` ... ``conv5_3``, ``pool5``), the VGG-Face mean colour is subtracted from the RGB 0..255
  image inside (``vgg_face_mean``), and ``weights=`` loads a VGG-Face weights file into them
  (`kerasfg.models.load_vgg_face_weights`; the classifier stays Xavier-initialized, as in the thesis);
  ``trunk="vgg16"`` uses keras.applications' names (``block1_conv1`` ... ``block5_pool``). Its pool5
  features go to the classifier, and a **grid head** scores the ``k x k`` cells: ``grid_head="conv"``
  (default) is a 1x1 convolution from the last convolution (``conv5_3``) to one score per position
  (``where_grid_conv``), resized bilinearly to ``k x k``, so that each cell's score comes from the
  features that see it (the map must not be much coarser than the grid: 14x14 at 224x224 for k = 16);
  ``"dense"`` is a dense layer from the flattened pool5 to the ``k**2`` scores (``where_grid_dense``).
  `kerasfg.layers.GlimpseGrid` (``glimpse_grid``) turns the scores into ``G = softmax`` over the cells
  (``G >= 0``, ``sum G = 1``) and chooses the top ``n``.
- **what**: `kerasfg.layers.GlimpsePatches` (``glimpse_patches``) cuts only the ``n`` chosen cells out of
  the high-resolution image; they go through VGG's first conv blocks, up to pool3
  (``patch_features="pool3"``, the thesis's choice) or pool4, with the where stream's weights
  (``share_weights=True``) or their own (``patch_conv1_1``..., initialized like the where stream's), then
  global average pooling (``what_gap``) and `kerasfg.layers.GlimpseWeighting` (``glimpse_weighting``:
  ``"eltwise"``, Eq. 3.2, default; ``"weighted_sum"``, Eq. 3.1; ``"none"``).

**Merge** (``merge``): ``"concat"`` L2-normalizes both streams and concatenates them (default);
``"add"`` projects the patch features into the where features' space (``what_projection``) and adds.
The classifier is VGG's ``fc6``, ``fc7`` (Xavier-initialised dense layers with dropout) and one output
per task (``fc8``), named after the task.

Decisions where the thesis is silent (NOTES-002 §8, items 12-16): the low resolution, the grid head
above, the softmax normalisation, patch cells of ``ceil(side / k)`` pixels (the image is resized to
``k`` times that when needed, 600 -> 608 for ``k = 16``), the ``n x d`` element-wise product flattened
in the order the cells were chosen, and the grid values used as they are (``renormalize=False``).

The grid and the chosen cells are attention maps: `kerasfg.callbacks.AttentionMaps`, the shared probe
pass and the TensorBoard plugin show ``glimpse_grid``'s ``grid`` and ``chosen`` maps over the probe images
like any other attention layer's.
"""

import keras

from kerasfg.layers.glimpse import GlimpseGrid, GlimpsePatches, GlimpseWeighting
from kerasfg.models.blocks import Attention, classifier_outputs, image_input
from kerasfg.models.registry import register_model
from kerasfg.models.vgg import VGG_FILTERS, vgg_block_layers
from kerasfg.models.vgg_face import vgg_face_preprocessing

TRUNKS = {"vgg_face": "caffe", "vgg16": "applications"}
GRID_HEADS = ("conv", "dense")
MERGES = ("concat", "add")
PATCH_FEATURES = {"pool3": 3, "pool4": 4}
WHERE_POOLINGS = ("flatten", "gap")

# === Layers ===


def _apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def where_stream(x, blocks, attention):
    """The where stream's VGG blocks on the low-resolution image: ``(block5_conv features, pool5)``."""
    for block in blocks[:-1]:
        x = _apply(block, x)
    *convs, pool = blocks[-1]
    last_conv = _apply(convs, x)
    pool5 = pool(last_conv)
    attention = attention if isinstance(attention, Attention) else Attention(attention)
    if attention:
        pool5 = keras.layers.Add(name=f"top_{attention.tag}_add")([pool5, attention(pool5, "top")])
    return last_conv, pool5


def grid_scores(head, last_conv, pool5, grid_size):
    """The where stream's score map ``(batch, h, w, 1)`` for `GlimpseGrid` (module docstring)."""
    if head == "conv":
        return keras.layers.Conv2D(1, 1, name="where_grid_conv")(last_conv)
    flat = keras.layers.Flatten(name="where_grid_flatten")(pool5)
    scores = keras.layers.Dense(grid_size * grid_size, name="where_grid_dense")(flat)
    return keras.layers.Reshape((grid_size, grid_size, 1), name="where_grid_scores")(scores)


def merge_streams(where, what, merge):
    """Merge the where and what feature vectors: L2-normalize and concatenate, or project and add.

    The where stream is the merge's first input, so the CAM methods, which walk back from an output along
    first inputs, explain its pool5 (a feature map of the whole image) by default.
    """
    if merge == "concat":
        where = keras.layers.UnitNormalization(name="where_l2")(where)
        what = keras.layers.UnitNormalization(name="what_l2")(what)
        return keras.layers.Concatenate(name="glimpse_merge")([where, what])
    projected = keras.layers.Dense(where.shape[-1], name="what_projection")(what)
    return keras.layers.Add(name="glimpse_merge")([where, projected])


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"glimpse_attention: `{name}` must be one of {tuple(choices)}; received {value!r}.")


def _check_cell_size(input_shape, grid_size, patch_size, depth):
    """A patch must survive ``depth`` 2x2 poolings: at least ``2**depth`` pixels a side."""
    sides = patch_size if patch_size is not None else [
        None if side is None else -(-side // grid_size) for side in input_shape[:2]]
    sides = (sides, sides) if isinstance(sides, int) else sides
    if any(side is not None and side < 2**depth for side in sides):
        raise ValueError(f"glimpse_attention: cells of {tuple(sides)} pixels ({tuple(input_shape[:2])} images, a "
                         f"{grid_size}x{grid_size} grid) are too small for the what stream's {depth} poolings; they "
                         f"need at least {2**depth} pixels a side: use a smaller grid_size or larger images.")


# === Functional Model ===


def glimpse_attention(*, input_shape, num_classes, attention=None, activation="relu", trunk="vgg_face",
                      weights=None, grid_size=16, num_glimpses=5, low_resolution=(224, 224), grid_head="conv",
                      selection="top", weighting="eltwise", renormalize=False, patch_features="pool3",
                      patch_size=None, share_weights=True, merge="concat", where_pooling="flatten",
                      fc_units=4096, dropout=0.5, filters=VGG_FILTERS, batch_norm=False,
                      classifier_activation="softmax", rescale=None, seed=None, name=None):
    """Build the where/what glimpse attention network (module docstring).

    Args:
        input_shape: the high-resolution image shape ``(height, width, channels)``; height and width
            may be None (any size).
        num_classes: an int (one output named ``predictions``) or a dict ``{task: classes}``
            (``{"age": 8, "gender": 2}``).
        attention: an attention module (``"se"``, ``"cbam"``...) after the where stream's
            pool5 (residual, as VGG's ``attention_placement="last"``), or None.
        activation: activation of the VGG convolutions and of ``fc6``/``fc7``.
        trunk: ``"vgg_face"`` (VGG-Face's layer names and mean colour) or ``"vgg16"``
            (keras.applications' names, no mean subtraction).
        weights: a VGG-Face weights file (keras-vggface ``.h5`` or MatConvNet ``.mat``) for the
            convolutions (``trunk="vgg_face"``), or None.
        grid_size: ``k``: the grid has ``k x k`` cells.
        num_glimpses: ``n``: the number of cells the what stream looks at.
        low_resolution: ``(height, width)`` of the where stream's input.
        grid_head: ``"conv"`` or ``"dense"``.
        selection: ``"top"`` (hard top-``n``) or ``"sample"`` (drawn from ``G`` while training).
        weighting: ``"eltwise"`` (Eq. 3.2), ``"weighted_sum"`` (Eq. 3.1) or ``"none"``.
        renormalize: weigh by the grid values renormalized over the chosen cells.
        patch_features: ``"pool3"`` or ``"pool4"``: the depth of the what stream.
        patch_size: ``(ph, pw)`` of a cell in pixels; default ``ceil(side / k)``.
        share_weights: the what stream uses the where stream's conv layers (True) or its own.
        merge: ``"concat"`` or ``"add"``.
        where_pooling: ``"flatten"`` (pool5 as VGG's fc6 sees it) or ``"gap"`` (global
            average pooling: 512 features).
        fc_units: width of ``fc6`` and ``fc7``.
        dropout: dropout rate after ``fc6`` and ``fc7``.
        filters: the widths of VGG's five conv blocks (VGG's own; smaller ones for smoke runs: pretrained
            weights need VGG's).
        batch_norm: a BN after every convolution (VGG-BN), for training from scratch; with shared
            weights the patch stream shares the BN layers too (each call normalizes its own batch; the
            moving statistics follow both).
        classifier_activation: ``"softmax"``, or None for logits.
        rescale: None, ``"unit"`` or ``"symmetric"`` (0..255 pixels rescaled inside; see
            `kerasfg.models.blocks.image_input`); the VGG-Face trunk takes RGB 0..255 (None).
        seed: seed of ``selection="sample"``.
        name: model name.

    Returns:
        A flat functional model ``image -> {task: (batch, classes) float32}``.

    Example:

    ```python
    model = build_model("glimpse_attention", input_shape=(600, 600, 3), num_classes={"age": 8, "gender": 2})
    ```
    """
    _check_choice("trunk", trunk, TRUNKS)
    _check_choice("grid_head", grid_head, GRID_HEADS)
    _check_choice("merge", merge, MERGES)
    _check_choice("patch_features", patch_features, PATCH_FEATURES)
    _check_choice("where_pooling", where_pooling, WHERE_POOLINGS)
    if weights is not None and trunk != "vgg_face":
        raise ValueError("glimpse_attention: `weights` are VGG-Face weights; use them with trunk='vgg_face'.")
    image, x = image_input(input_shape, rescale)
    if trunk == "vgg_face":
        x = vgg_face_preprocessing(x)
    low_resolution = tuple(low_resolution)
    if len(low_resolution) != 2:
        raise ValueError(f"glimpse_attention: `low_resolution` must be (height, width); received {low_resolution!r}.")

    if len(filters) != len(VGG_FILTERS):
        raise ValueError(f"glimpse_attention: `filters` must give the width of each of VGG's 5 blocks; "
                         f"received {filters!r}.")
    naming = TRUNKS[trunk]
    blocks = [vgg_block_layers(b, activation=activation, naming=naming, width=filters[b - 1], batch_norm=batch_norm)
              for b in range(1, 6)]
    depth = PATCH_FEATURES[patch_features]
    _check_cell_size(input_shape, grid_size, patch_size, depth)
    patch_blocks = blocks[:depth] if share_weights else [
        vgg_block_layers(b, activation=activation, naming=naming, width=filters[b - 1], batch_norm=batch_norm,
                         prefix="patch_") for b in range(1, depth + 1)]

    low = keras.layers.Resizing(*low_resolution, interpolation="bilinear", name="where_resize")(x)
    last_conv, pool5 = where_stream(low, blocks, attention)
    scores = grid_scores(grid_head, last_conv, pool5, grid_size)
    grid, cells = GlimpseGrid(grid_size, num_glimpses, selection=selection, seed=seed, name="glimpse_grid")(scores)
    patches = GlimpsePatches(grid_size, patch_size, name="glimpse_patches")([x, cells])
    what = keras.layers.GlobalAveragePooling2D(name="what_gap")(_apply(sum(patch_blocks, []), patches))
    what = GlimpseWeighting(weighting, renormalize=renormalize, name="glimpse_weighting")([what, grid, cells])

    if where_pooling == "flatten":
        where = keras.layers.Flatten(name="where_flatten")(pool5)
    else:
        where = keras.layers.GlobalAveragePooling2D(name="where_gap")(pool5)
    x = merge_streams(where, what, merge)
    for fc in ("fc6", "fc7"):
        x = keras.layers.Dense(fc_units, activation=activation, name=fc)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{fc}_dropout")(x)
    outputs = classifier_outputs(x, num_classes, classifier_activation=classifier_activation)
    model = keras.Model(image, outputs, name=name or "glimpse_attention")
    if weights is not None:
        load_trunk_weights(model, weights, blocks[:depth], patch_blocks)
    return model


def load_trunk_weights(model, path, where_blocks, patch_blocks):
    """Load VGG-Face weights into the where stream, and copy them into the patch stream's own layers."""
    from kerasfg.models.vgg_face_weights import load_vgg_face_weights

    loaded = load_vgg_face_weights(model, path, skip=("fc6", "fc7", "fc8"))
    for where, patch in zip(sum(where_blocks, []), sum(patch_blocks, [])):
        if patch is not where:
            patch.set_weights(where.get_weights())
    return loaded


# === Config ===

register_model("glimpse_attention", smoke_image_size=32, smoke_options={
    "grid_size": 4, "num_glimpses": 2, "low_resolution": (32, 32), "fc_units": 8,
    "filters": (8, 16, 16, 32, 32)})(glimpse_attention)
