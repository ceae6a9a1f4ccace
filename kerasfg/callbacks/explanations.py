"""Record saliency maps and class activation maps of a fixed probe set while a model trains."""

from kerasfg.callbacks.base import RecordingCallback
from kerasfg.tensorboard import summary
from kerasfg.vis.explain import Explainer, check_method
from kerasfg.vis.one_pass import ONE_PASS_METHODS


def write_heatmaps(writer, maps, images, step, *, method, output, layer=None, classes=None, alpha=0.5,
                   colormap="jet"):
    """Write the heat maps `(n, height, width)` of ``method`` for the probe ``images`` with `summary.heatmaps`.

    The tag is ``<method>/<output>``, or ``<method>/<output>/<layer path>`` for the methods that weigh
    a layer's feature maps.
    """
    tag = f"{method}/{output}" if layer is None else f"{method}/{output}/{layer}"
    where = "" if layer is None else f" of layer {layer}"
    target = "the predicted class" if classes is None else f"class {classes}"
    summary.heatmaps(writer, tag, maps, images, step, method=method, output=output, layer=layer,
                     alpha=alpha, colormap=colormap, description=f"{method}{where} for {target} of output {output}")


def write_explanation(writer, explainer, inputs, step, *, method, output, layer=None, classes=None, alpha=0.5,
                      colormap="jet", **options):
    """Explain ``inputs`` with ``explainer`` and write the heat maps (see `write_heatmaps`).

    Returns:
        The maps, float32 `(n, height, width)`.
    """
    maps = explainer(inputs, method, output=output, layer=layer, classes=classes, **options)
    write_heatmaps(writer, maps, explainer.inputs.image(inputs), step, method=method, output=output,
                   layer=explainer.layer_path(method, output, layer), classes=classes, alpha=alpha, colormap=colormap)
    return maps


class _Explanations(RecordingCallback):
    """Write `kerasfg.vis.explain` heat maps of every chosen output (and layer) over the probe images.

    Tags: ``<method>/<output>`` for the gradient methods, ``<method>/<output>/<layer path>`` for the
    methods that weigh a layer's feature maps.
    """

    METHODS = ()

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, method, outputs=None, layers=None,
                 max_images=8, colormap="jet", alpha=0.5, **options):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, max_images=max_images)
        if method not in self.METHODS:
            raise ValueError(f"{type(self).__name__} records one of the methods {list(self.METHODS)}, "
                             f"got {method!r}.")
        for layer in layers or [None]:
            check_method(method, layer)
        if method in ONE_PASS_METHODS and options:
            raise ValueError(f"Method {method!r} takes no options; got {sorted(options)}.")
        self.method = method
        self.outputs = outputs
        self.layers = layers
        self.colormap = colormap
        self.alpha = alpha
        self.options = options
        self._explainer = None
        self._explanations_to_write = []

    def probe_requests(self):
        if self.method not in ONE_PASS_METHODS:
            return None
        return {"explanations": self._explanations(Explainer.of(self.model)), "count": self.max_images}

    def _explanations(self, explainer):
        """The `kerasfg.vis.one_pass.Explanation` of every chosen output and layer."""
        return [explainer.explanation(self.method, output, layer)
                for output in self.chosen_outputs(self.outputs) for layer in self.layers or [None]]

    def setup(self):
        self._explainer = Explainer.of(self.model)
        self._explanations_to_write = self._explanations(self._explainer)

    def record(self, step):
        inputs = self.probe_inputs()
        shared = self.method in ONE_PASS_METHODS
        maps = self.shared_pass(self.probe, self.max_images).maps if shared else None
        for explanation in self._explanations_to_write:
            if shared:
                values = maps[explanation]
            else:
                values = self._explainer(inputs, self.method, output=explanation.output, layer=explanation.layer,
                                         **self.options)
            write_heatmaps(self.writer, values, self.probe_images(), step, method=self.method,
                           output=explanation.output, layer=explanation.layer, alpha=self.alpha,
                           colormap=self.colormap)


class Saliency(_Explanations):
    """Record saliency maps (Simonyan et al.), SmoothGrad or guided backpropagation of the probe images.

    Each map is the gradient of the predicted class's score before the softmax with respect to the
    image, its absolute value, maximum over the colour channels, one per probe image and output,
    written with `kerasfg.tensorboard.summary.heatmaps` under ``<method>/<output>``.

    Args:
        probe: a batch of model inputs; its image input is explained.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs (every epoch by default) and
            after the last; None: only when training ends.
        method: ``"saliency"``, ``"smoothgrad"`` or ``"guided_backprop"``.
        outputs: the outputs to explain; every output with class scores by default.
        max_images: at most this many probe images are recorded.
        colormap, alpha: the Images dashboard's overlays.
        **options: method options (``samples``, ``noise``, ``seed`` for SmoothGrad).
    """

    METHODS = ("saliency", "smoothgrad", "guided_backprop")

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, method="saliency", outputs=None,
                 max_images=8, colormap="jet", alpha=0.5, **options):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, method=method, outputs=outputs,
                         max_images=max_images, colormap=colormap, alpha=alpha, **options)


class GradCAM(_Explanations):
    """Record class activation maps of the probe images: Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM or CAM.

    One map per probe image, output and layer, for the predicted class, resized to the image and
    written with `kerasfg.tensorboard.summary.heatmaps` under ``<method>/<output>/<layer path>``
    (e.g. ``gradcam/identity/stage3_block1_out``).

    Args:
        probe: a batch of model inputs; its image input is explained.
        log_dir: folder of the event files.
        every_n_epochs: record before training, after every this many epochs (every epoch by default) and
            after the last; None: only when training ends.
        method: ``"gradcam"``, ``"gradcam++"``, ``"layercam"``, ``"scorecam"`` or ``"cam"`` (CAM needs
            Dense outputs on global average pooling, and uses the pooled layer).
        layers: the layers whose feature maps are weighed (paths or unique names), one recording each; by
            default the last spatial layer before each output's head (`kerasfg.vis.introspect.feature_layer`).
        outputs: the outputs to explain; every output with class scores by default.
        max_images: at most this many probe images are recorded.
        colormap, alpha: the Images dashboard's overlays.
        **options: method options (``max_channels``, ``batch_size``, ``baseline`` for Score-CAM).
    """

    METHODS = ("gradcam", "gradcam++", "layercam", "scorecam", "cam")

    def __init__(self, probe=None, *, log_dir=None, every_n_epochs=1, method="gradcam", layers=None, outputs=None,
                 max_images=8, colormap="jet", alpha=0.5, **options):
        super().__init__(probe, log_dir=log_dir, every_n_epochs=every_n_epochs, method=method, outputs=outputs,
                         layers=layers, max_images=max_images, colormap=colormap, alpha=alpha, **options)
