"""How faithful an explanation map is: does it point at the evidence, and does the model need what it shows?

Two families of scores, computed per image and averaged:

- **Against known evidence** (synthetic faces, where each task's evidence mask is known, see
  `kerasfg.data.synthetic`): the *pointing game* (Zhang et al., 2016: is the map's maximum inside the
  mask, with a tolerance of a few pixels) and the *energy in the mask* (the share of the map's positive
  mass inside the mask). A map that knows nothing scores the mask's own area share on both (the area of
  the mask grown by the tolerance for the pointing game): these chance levels come with the scores, and a
  score means something only above them. The evidence masks of the synthetic faces cover every region that
  *can* carry a task's signal, so they are generous and their chance levels are high.
- **Against the model itself** (any data): the *deletion* and *insertion* curves (Petsiuk et al., 2018,
  RISE). Pixels are ranked by the map; deletion removes them most-important-first (replacing them by a
  baseline, black by default as in the paper) and insertion puts them back, most-important-first, into a
  blurred copy of the image. The curves follow the probability of the explained class; a faithful map
  gives a small area under the deletion curve (the probability falls fast) and a large area under the
  insertion curve. A random ranking is the reference.

Maps are `(n, h, w)` at the input resolution (smaller maps are resized bilinearly); masks are boolean
`(n, h, w)`; images are the model's image input (its only 4-D input, or the one named ``"image"``: see
`kerasfg.vis.introspect.ModelInputs`), the other inputs are kept as they are.
"""

import numpy as np

from kerasfg.vis import render
from kerasfg.vis.blur import gaussian_blur
from kerasfg.vis.one_pass import run_one_pass

COLUMNS = ("method", "pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc")
RANDOM = "random"


def _check_pair(maps, masks):
    maps, masks = np.asarray(maps, np.float32), np.asarray(masks, bool)
    if maps.ndim == 4 and maps.shape[-1] == 1:
        maps = maps[..., 0]
    if masks.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(f"maps and masks must both have shape (n, h, w); got maps {maps.shape} and masks "
                         f"{masks.shape}.")
    return maps, masks


def dilate(masks, tolerance):
    """Grow boolean masks `(n, h, w)` by ``tolerance`` pixels in each direction (a square neighbourhood)."""
    masks = np.asarray(masks, bool)
    if tolerance <= 0:
        return masks
    grown = masks.copy()
    for axis in (1, 2):
        source = grown.copy()
        for shift in range(1, tolerance + 1):
            lead = [slice(None)] * 3
            trail = [slice(None)] * 3
            lead[axis], trail[axis] = slice(shift, None), slice(None, -shift)
            grown[tuple(lead)] |= source[tuple(trail)]
            grown[tuple(trail)] |= source[tuple(lead)]
    return grown


def mask_share(masks, tolerance=0):
    """The share of each image's pixels inside its mask (grown by ``tolerance`` pixels): `(n,)` floats.

    This is the chance level of `energy_in_mask` (``tolerance=0``) and of `pointing_game` (with the
    pointing game's tolerance): what a map that knows nothing scores on average.
    """
    grown = dilate(masks, tolerance)
    return grown.reshape(len(grown), -1).mean(axis=1)


def pointing_game(maps, masks, tolerance=2):
    """Whether each map's maximum falls inside its mask, give or take ``tolerance`` pixels.

    A map whose maximum is reached at several pixels scores the share of those pixels that hit, so a
    constant map scores chance rather than whatever its first pixel happens to be.

    Args:
        maps: `(n, h, w)` explanation maps.
        masks: `(n, h, w)` booleans, the evidence of each image.
        tolerance: pixels of slack around the mask (a square neighbourhood); 2 pixels on the 64-pixel
            synthetic faces, where maps computed on an 8x8 feature grid and upsampled place their
            maximum only to within a few pixels.

    Returns:
        `(n,)` floats in [0, 1] (1 or 0 when the maximum is unique).
    """
    maps, masks = _check_pair(maps, masks)
    flat = maps.reshape(len(maps), -1)
    at_max = flat >= flat.max(axis=1, keepdims=True)
    hits = at_max & dilate(masks, tolerance).reshape(len(masks), -1)
    return hits.sum(axis=1) / at_max.sum(axis=1)


def energy_in_mask(maps, masks):
    """The share of each map's positive mass that lies inside its mask: `(n,)` floats in [0, 1].

    Negative values count as zero. A map with no positive value points nowhere and scores the mask's
    area share (chance).
    """
    maps, masks = _check_pair(maps, masks)
    positive = np.maximum(maps, 0).reshape(len(maps), -1)
    inside = (positive * masks.reshape(len(masks), -1)).sum(axis=1)
    total = positive.sum(axis=1)
    chance = mask_share(masks)
    return np.where(total > 0, inside / np.maximum(total, 1e-30), chance)


def random_maps(shape, seed=0):
    """Uniformly random maps of ``shape`` `(n, h, w)`: the ranking that knows nothing."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


class ClassProbability:
    """The softmax probabilities of one output of a model, whatever its final activation, compiled.

    The model runs through `kerasfg.vis.run_one_pass` (`kerasfg.vis.ModelGraph` with its final softmax
    skipped), and the softmax is applied here, so models that end in logits and models that end in a
    softmax score alike. The compiled function is the `kerasfg.vis.Explainer`'s: a kept explainer compiles
    it once, and a recording callback's explainer runs the pass that the callbacks share (see
    `kerasfg.vis.one_pass.covering_pass`).

    Args:
        model: a built Keras model (any form `ModelGraph` runs).
        output: the output's name; the first output by default.
        explainer: the `kerasfg.vis.Explainer` of ``model`` whose compiled functions to use; a new one by default.

    Call arguments:
        inputs: a batch in the form the model takes.

    Returns:
        float32 array `(batch, classes)`.
    """

    def __init__(self, model, output=None, explainer=None):
        from kerasfg.vis.explain import Explainer

        self._explainer = explainer or Explainer(model)
        self.output = self._explainer.output_name(output)
        self.inputs = self._explainer.inputs

    def __call__(self, inputs):
        logits = run_one_pass(self._explainer, inputs).logits[self.output]
        exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return exponentials / exponentials.sum(axis=-1, keepdims=True)

    def split(self, inputs):
        """``(float32 images, {name: array} of the other inputs)`` of a batch the model takes."""
        images, rest = self.inputs.split(inputs)
        return np.asarray(images, np.float32), {name: np.asarray(value) for name, value in rest.items()}

    def with_images(self, images, rest, index):
        """The model's inputs from perturbed ``images`` of the batch's examples ``index``."""
        return self.inputs.join(images, {name: value[index] for name, value in rest.items()})


CHUNK_IMAGES = 512
"""The most perturbed images that the curves run through the model in one call (bounds their memory)."""


def perturbation_curves(model, inputs, maps, *, output=None, classes=None, steps=16, deletion_baseline="blur",
                        blur_sigma=None, seed=0, probability=None):
    """The deletion and insertion curves of explanation maps.

    Pixels (all channels of a position) are ranked by the map, highest first; ties are broken at random
    (seeded). After step ``k`` of ``steps``, the top ``round(k / steps * h * w)`` pixels are removed
    (deletion) or inserted (insertion), and the probability of the explained class is read. The
    perturbed images of all steps run through the model together, at most `CHUNK_IMAGES` per call.

    Args:
        model: a built Keras model.
        inputs: the explained batch, in the form the model takes (its image input is perturbed, the other
            inputs are kept as they are).
        maps: `(n, h, w)` maps; resized bilinearly to the image size when smaller.
        output: the scored output's name; the first output by default.
        classes: `(n,)` class indices to score; the model's predicted classes by default.
        steps: number of steps ``K``; each curve has ``K + 1`` points, from 0 to all pixels.
        deletion_baseline: what removed pixels become: ``"blur"`` (the blurred image that insertion starts
            from; the default) or ``"zeros"`` (black, as in Petsiuk et al.'s RISE). Black pixels deleted in
            a random order sprinkle dots over the image that no training image has, and the probability
            collapses for that reason alone: the random order's deletion area becomes small, and a smooth
            map that deletes whole regions (Grad-CAM) can score "below random". Deleting into the blur
            removes the information without that artifact, and a random order then has equal deletion and
            insertion areas.
        blur_sigma: standard deviation in pixels of the blur that insertion starts from; a sixteenth
            of the image's larger side by default (4 pixels on 64-pixel faces).
        seed: seed of the tie-breaking.
        probability: a `ClassProbability` of this model and output, to reuse across calls.

    Returns:
        ``{"deletion": (n, K + 1), "insertion": (n, K + 1), "classes": (n,)}``, the curves as float32.
    """
    (curves,) = _curves_of_maps(probability or ClassProbability(model, output), inputs, [maps], classes,
                                steps=steps, deletion_baseline=deletion_baseline, blur_sigma=blur_sigma, seed=seed)
    return curves


def _pixel_ranks(maps, n, height, width, seed):
    """Each pixel's rank in its map `(n, h, w)`, highest first, ties broken at random (seeded)."""
    maps = np.asarray(maps, np.float32)
    if maps.ndim == 4 and maps.shape[-1] == 1:
        maps = maps[..., 0]
    if maps.ndim != 3 or len(maps) != n:
        raise ValueError(f"Expected one map (n, h, w) per image ({n} images), got maps of shape {maps.shape}.")
    if maps.shape[1:] != (height, width):
        maps = render.resize(maps, (height, width))
    pixels = height * width
    tie_break = np.random.default_rng(seed).random((n, pixels))
    order = np.lexsort((tie_break, -maps.reshape(n, pixels)), axis=-1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(pixels)[None].repeat(n, 0), axis=-1)
    return rank.reshape(n, height, width).astype(np.int32)


def _curves_of_maps(probability, inputs, maps_list, classes, *, steps, deletion_baseline, blur_sigma, seed):
    """The `perturbation_curves` of several sets of maps of one batch, in as few model calls as possible.

    The ends of the curves do not depend on the map (deletion starts from the image and ends at the
    baseline, insertion starts from the blurred image and ends at the image): they are scored once per
    image. The inner steps of every set of maps are scored together, at most `CHUNK_IMAGES` per call.

    Returns:
        One ``{"deletion", "insertion", "classes"}`` per set of maps, as `perturbation_curves` returns.
    """
    if deletion_baseline not in ("zeros", "blur"):
        raise ValueError(f"deletion_baseline must be 'zeros' or 'blur', got {deletion_baseline!r}.")
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    images, rest = probability.split(inputs)
    n, height, width = images.shape[:3]
    if not maps_list:
        return []
    ranks = np.stack([_pixel_ranks(maps, n, height, width, seed) for maps in maps_list])
    blurred = gaussian_blur(images, blur_sigma or max(height, width) / 16)
    fills = np.stack([blurred, blurred if deletion_baseline == "blur" else np.zeros_like(images)])
    if classes is None:
        classes = probability(probability.with_images(images, rest, slice(None))).argmax(axis=-1)
    classes = np.asarray(classes, np.int64).reshape(n)

    # What to score, one entry per perturbed image: which maps, which image, how many of its top pixels
    # are chosen, and whether they are deleted (else inserted). First the ends: the image (nothing
    # deleted), the blurred image (nothing inserted) and the baseline (everything deleted).
    pixels = height * width
    sets, step, image, deletion = (grid.ravel() for grid in np.meshgrid(
        np.arange(len(ranks)), np.arange(1, steps), np.arange(n), [True, False], indexing="ij"))
    sets = np.concatenate([np.zeros(3 * n, np.int64), sets])
    chosen_counts = np.concatenate([np.repeat([0, 0, pixels], n), np.round(step / steps * pixels).astype(np.int64)])
    image = np.concatenate([np.tile(np.arange(n), 3), image])
    deletion = np.concatenate([np.repeat([True, False, True], n), deletion])

    scores = np.empty(len(image), np.float32)
    for start in range(0, len(image), CHUNK_IMAGES):
        part = slice(start, start + CHUNK_IMAGES)
        index, deleted = image[part], deletion[part]
        chosen = ranks[sets[part], index] < chosen_counts[part, None, None]
        # The image's own pixels are those not deleted or those inserted; the rest come from the fill.
        original = (chosen != deleted[:, None, None])[..., None]
        batch = np.where(original, images[index], fills[deleted.astype(np.int64), index])
        scores[part] = probability(probability.with_images(batch, rest, index))[np.arange(len(index)), classes[index]]

    whole, start_blurred, baseline = scores[:3 * n].reshape(3, n, 1)
    middle = scores[3 * n:].reshape(len(ranks), steps - 1, n, 2).transpose(0, 2, 1, 3)
    return [{"deletion": np.concatenate([whole, steps_of[..., 0], baseline], axis=1),
             "insertion": np.concatenate([start_blurred, steps_of[..., 1], whole], axis=1), "classes": classes}
            for steps_of in middle]


def area_under_curve(curves):
    """The area under curves `(n, K + 1)` sampled at ``0, 1/K, ..., 1`` (trapezoids): `(n,)`."""
    curves = np.asarray(curves, np.float32)
    return (curves[:, :-1] + curves[:, 1:]).sum(axis=1) / (2 * (curves.shape[1] - 1))


def applicable_methods(explainer, methods=None, output=None):
    """The methods of `kerasfg.vis.explain` that apply to a model, and why the others do not.

    A method does not apply when the layer it needs cannot be found (CAM on a model without a
    global-average-pooling head, the Grad-CAM family on a model without 4-D feature maps); nothing is
    computed to find out.

    Args:
        explainer: a `kerasfg.vis.Explainer` of the model.
        methods: method names to try; all of `kerasfg.vis.explain.METHODS` by default.
        output: the output to explain.

    Returns:
        ``(names, reasons)``: the names that apply, in order, and ``{name: error message}`` for the others.
    """
    from kerasfg.vis.explain import METHODS, check_method

    names, reasons = [], {}
    for name in methods or METHODS:
        check_method(name)  # a misspelt name is an error, not a method that does not apply
        try:
            explainer.layer_path(name, output)
        except ValueError as error:
            reasons[name] = str(error)
        else:
            names.append(name)
    return names, reasons


def faithfulness_scores(model, inputs, maps, *, masks=None, output=None, classes=None, tolerance=2, **curve_options):
    """Per-image faithfulness scores of one set of maps.

    Args:
        model, inputs, output, classes: as in `perturbation_curves`.
        maps: `(n, h, w)` explanation maps of ``inputs``.
        masks: `(n, h, w)` evidence masks, or None (then only deletion and insertion are scored).
        tolerance: the pointing game's tolerance in pixels.
        **curve_options: ``steps``, ``deletion_baseline``, ``blur_sigma``, ``seed``, ``probability`` of
            `perturbation_curves`.

    Returns:
        ``{"pointing_game", "energy_in_mask" (with masks), "deletion_auc", "insertion_auc",
        "deletion", "insertion" (the curves)}``, arrays with one row per image.
    """
    curves = perturbation_curves(model, inputs, maps, output=output, classes=classes, **curve_options)
    return _scores(curves, maps, masks, tolerance)


def _scores(curves, maps, masks, tolerance):
    """`faithfulness_scores` from the curves of ``maps``."""
    scores = {}
    if masks is not None:
        height, width = np.asarray(masks).shape[1:3]
        maps = np.asarray(maps, np.float32)
        maps = maps if maps.shape[1:3] == (height, width) else render.resize(maps, (height, width))
        scores = {"pointing_game": pointing_game(maps, masks, tolerance), "energy_in_mask": energy_in_mask(maps, masks)}
    return {**scores, "deletion_auc": area_under_curve(curves["deletion"]),
            "insertion_auc": area_under_curve(curves["insertion"]), "deletion": curves["deletion"],
            "insertion": curves["insertion"]}


def faithfulness_table(model, inputs, *, methods, masks=None, output=None, classes=None, tolerance=2, steps=16,
                       deletion_baseline="blur", blur_sigma=None, seed=0, random_baseline=True, explainer=None):
    """Score several explanation methods on one batch: one row per method, plus the random reference.

    Every method explains the same classes (the model's predicted classes of ``output`` by default), and
    every score is averaged over the batch.

    Args:
        model: a built Keras model.
        inputs: the batch to explain, in the form the model takes.
        methods: method names of `kerasfg.vis.explain` (``["gradcam", "saliency"]``), or a dict
            ``{name: method name, callable or maps}``; a callable is called as
            ``fn(model, inputs, output=output, classes=classes)`` and returns `(n, h, w)` maps; maps are a
            NumPy array `(n, h, w)` already computed for ``classes``. The named methods that need one
            forward and backward pass are computed together (`kerasfg.vis.run_one_pass`).
        masks: `(n, h, w)` boolean evidence masks of the batch, or None (no pointing game, no energy).
        output: the explained output's name; the first output by default.
        classes: `(n,)` class indices to explain; the predicted classes by default.
        tolerance: the pointing game's tolerance in pixels.
        steps, deletion_baseline, blur_sigma, seed: as in `perturbation_curves`.
        random_baseline: add a ``"random"`` row: deletion and insertion in a random pixel order (seeded),
            and the chance levels of the pointing game and of the energy in the mask (the mask's area
            share, grown by the tolerance for the pointing game), which is what a map that knows
            nothing scores on average.
        explainer: a `kerasfg.vis.Explainer` of ``model`` that computes the named methods and the
            probabilities, to reuse its compiled functions across calls; a new one by default.

    Returns:
        A list of dicts, one per method, with the keys of `COLUMNS` (without ``pointing_game`` and
        ``energy_in_mask`` when there are no masks); values are Python floats.
    """
    if not isinstance(methods, dict):
        methods = {name: name for name in methods}
    if explainer is None:
        from kerasfg.vis.explain import Explainer

        explainer = Explainer(model)
    probability = ClassProbability(model, output, explainer)
    images, rest = probability.split(inputs)
    if classes is None:
        classes = probability(probability.with_images(images, rest, slice(None))).argmax(axis=-1)
    named = list(explainer.maps_of(methods, inputs, output=probability.output, classes=classes).items())
    random = [random_maps(images.shape[:3], seed + 1)] if random_baseline else []
    curves = _curves_of_maps(probability, inputs, [maps for _, maps in named] + random, classes, steps=steps,
                             deletion_baseline=deletion_baseline, blur_sigma=blur_sigma, seed=seed)
    rows = [_row(name, _scores(curve, maps, masks, tolerance)) for (name, maps), curve in zip(named, curves)]
    if random_baseline:
        scores = _scores(curves[-1], random[0], None, tolerance)
        if masks is not None:
            scores["pointing_game"] = mask_share(masks, tolerance)
            scores["energy_in_mask"] = mask_share(masks)
        rows.append(_row(RANDOM, scores))
    return rows


def _row(name, scores):
    return {"method": name, **{column: float(np.mean(scores[column])) for column in COLUMNS[1:] if column in scores}}
