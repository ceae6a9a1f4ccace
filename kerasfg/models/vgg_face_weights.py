"""Load VGG-Face weights from the files users have: keras-vggface's Keras HDF5 and MatConvNet's ``.mat``.

Nothing is downloaded: the user points at a file they already have.

Layouts (read-only, converted to the `kerasfg.models.vgg_face` model's convention, which takes RGB):

- **keras-vggface** (``rcmalli_vggface_tf_vgg16.h5``, ``rcmalli_vggface_tf_notop_vgg16.h5``): a Keras 2
  HDF5 weights file (``save_weights``; a whole-model file's ``model_weights`` group is read too). The
  root attribute ``layer_names`` lists the layers, each layer group's ``weight_names`` attribute its
  arrays (``conv1_1/kernel:0``, ``conv1_1/bias:0``), kernels in TensorFlow layout ``(h, w, in, out)``
  and ``(in, out)``. That model takes **BGR** images (its ``preprocess_input`` reverses the channels),
  so the input-channel axis of ``conv1_1`` is reversed here.
- **MatConvNet** (``vgg_face.mat`` of ``vgg_face_matconvnet.tar.gz``, or the newer ``vgg-face.mat``),
  read with ``scipy.io.loadmat``: a cell array of layer structs (top-level ``layers``, or ``net.layers``
  in the older file) with ``name``, ``type`` and ``weights = {filters, biases}``; the fully connected
  layers are convolutions whose filters span pool5 (``fc6``: 7x7x512x4096), flattened here in the
  ``(h, w, c)`` order of Keras' ``Flatten``. The filters are ``(h, w, in, out)``, RGB. The mean colour
  (``meta.normalization.averageImage``) and the identity names (``meta.classes.description``) are
  returned with the weights.

Every VGG-Face layer of the model (``conv1_1`` ... ``fc8``, those it has) must be in the file with the
model's shapes, or the load fails before any weight is set, with an error that names the layer, the
shape the model needs and the shape the file holds. File layers the model does not have (``fc8`` for a
model without the top, or a trunk under a new head) are skipped and reported.
"""

import dataclasses
import logging
import pathlib

import numpy as np

log = logging.getLogger(__name__)

CONV_LAYERS = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1",
               "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3")
DENSE_LAYERS = ("fc6", "fc7", "fc8")
LAYERS = CONV_LAYERS + DENSE_LAYERS
LAYOUTS = ("auto", "keras_vggface", "matconvnet")
CHANNEL_ORDERS = ("auto", "rgb", "bgr")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class VGGFaceWeightsError(ValueError):
    """A VGG-Face weights file is unreadable, lacks a layer the model needs, or holds a wrong shape."""


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """The VGG-Face layers read from one file, in the kerasfg model's orientation.

    Attributes:
        path: the file.
        layout: ``"keras_vggface"`` or ``"matconvnet"``.
        layers: ``{layer name: (kernel, bias)}``: conv kernels ``(h, w, in, out)`` taking RGB in
            ``conv1_1``; dense kernels ``(in, out)`` in Keras ``Flatten`` order.
        pool5_shapes: ``{layer name: (h, w, c)}`` of the input a MatConvNet fully connected filter
            spans (to explain a shape mismatch in input-size terms).
        mean_rgb: the mean colour the file was trained with, if it says.
        class_names: the identity names of fc8, if the file has them.
    """

    path: str
    layout: str
    layers: dict
    pool5_shapes: dict
    mean_rgb: tuple | None = None
    class_names: tuple | None = None


@dataclasses.dataclass(frozen=True)
class LoadedWeights:
    """What `load_vgg_face_weights` did.

    Attributes:
        path, layout: the file and its layout.
        loaded: the model layers that received weights.
        skipped: file layers the model does not have (or that ``skip`` named).
        mean_rgb, class_names: as in `WeightsFile`.
    """

    path: str
    layout: str
    loaded: tuple
    skipped: tuple
    mean_rgb: tuple | None
    class_names: tuple | None


def read_vgg_face_weights(path, layout="auto", channel_order="auto"):
    """Read the VGG-Face layers of a weights file.

    Args:
        path: a keras-vggface ``.h5`` or a MatConvNet ``.mat`` file.
        layout: ``"auto"`` (from the file's signature), ``"keras_vggface"`` or ``"matconvnet"``.
        channel_order: the colour order the file's ``conv1_1`` expects: ``"auto"`` (BGR for
            keras-vggface, RGB for MatConvNet), ``"rgb"`` or ``"bgr"``; BGR kernels are reordered to
            RGB.

    Returns:
        A `WeightsFile`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        VGGFaceWeightsError: if the file is not one of the layouts, or a layer is malformed.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"VGG-Face weights file {path} does not exist.")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; received {layout!r}.")
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}; received {channel_order!r}.")
    if layout == "auto":
        layout = _sniff_layout(path)
    weights = _read_keras_vggface(path) if layout == "keras_vggface" else _read_matconvnet(path)
    order = channel_order if channel_order != "auto" else ("bgr" if layout == "keras_vggface" else "rgb")
    if order == "bgr" and "conv1_1" in weights.layers:
        kernel, bias = weights.layers["conv1_1"]
        weights.layers["conv1_1"] = (kernel[:, :, ::-1, :].copy(), bias)
    return weights


def load_vgg_face_weights(model, path, *, layout="auto", channel_order="auto", skip=()):
    """Set the VGG-Face layers of ``model`` from a weights file; see the module docstring.

    Args:
        model: a model with VGG-Face layer names (`kerasfg.models.vgg_face`, ``face_head`` on the
            ``vgg_face`` backbone, the pain regressor...).
        path: a keras-vggface ``.h5`` or a MatConvNet ``.mat`` file.
        layout, channel_order: see `read_vgg_face_weights`.
        skip: layer names to leave as they are (for example ``("fc8",)`` for a classifier of other
            identities).

    Returns:
        A `LoadedWeights`.

    Raises:
        VGGFaceWeightsError: if the model has no VGG-Face layer, if a model layer is missing from the
            file, or if a shape differs; nothing is set then.

    Example:

    ```python
    model = build_model("vgg_face", input_shape=(224, 224, 3), num_classes=10)
    load_vgg_face_weights(model, "rcmalli_vggface_tf_vgg16.h5", skip=["fc8"])
    ```
    """
    skip = set(skip)
    unknown = sorted(skip - set(LAYERS))
    if unknown:
        raise ValueError(f"skip names {unknown}, which are not VGG-Face layers {list(LAYERS)}.")
    names = {layer.name for layer in model.layers}
    targets = [name for name in LAYERS if name in names and name not in skip]
    if not targets:
        raise VGGFaceWeightsError(f"Model '{model.name}' has none of VGG-Face's layers {list(LAYERS)}; build "
                                  f"it with kerasfg.models.build_model('vgg_face', ...) or on the vgg_face "
                                  f"backbone.")
    weights = read_vgg_face_weights(path, layout, channel_order)
    missing = [name for name in targets if name not in weights.layers]
    if missing:
        hint = (" (a file without the top: build the model with include_top=False, or skip those layers)"
                if set(missing) <= set(DENSE_LAYERS) else "")
        raise VGGFaceWeightsError(f"{weights.path}: the model's layer(s) {missing} are not in this "
                                  f"{weights.layout} file, which holds {sorted(weights.layers, key=LAYERS.index)}"
                                  f"{hint}.")
    values = {}
    for name in targets:
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(np.shape(array)) for array in weights.layers[name]]
        if expected != found:
            raise VGGFaceWeightsError(_shape_message(weights, name, expected, found))
        values[name] = weights.layers[name]
    for name, arrays in values.items():
        model.get_layer(name).set_weights(list(arrays))
    skipped = tuple(name for name in LAYERS if name in weights.layers and name not in targets)
    log.info("loaded VGG-Face weights of %d layers from %s (%s); skipped %s", len(values), weights.path,
             weights.layout, list(skipped) or "none")
    return LoadedWeights(path=weights.path, layout=weights.layout, loaded=tuple(targets), skipped=skipped,
                         mean_rgb=weights.mean_rgb, class_names=weights.class_names)


def _shape_message(weights, name, expected, found):
    message = (f"{weights.path}: layer {name!r} has shapes {found} in the file; the model's {name} needs "
               f"{expected}.")
    if name == "fc6" and len(expected[0]) == 2 and len(found[0]) == 2 and expected[0][1] == found[0][1]:
        spanned = weights.pool5_shapes.get("fc6")
        size = f" a pool5 of {'x'.join(map(str, spanned))}," if spanned else ""
        file_side = round((found[0][0] / 512) ** 0.5 * 32)
        message += (f" The file's fc6 takes{size} {found[0][0]} values (a {file_side}x{file_side} input); build "
                    f"the model for that input size, or with include_top=False.")
    elif name == "fc8" and expected[0][1] != found[0][1]:
        message += f" The file classifies {found[0][1]} identities; pass skip=['fc8'] to keep the model's own fc8."
    return message


# === keras-vggface (Keras 2 HDF5) ===


def _sniff_layout(path):
    with open(path, "rb") as handle:
        head = handle.read(8)
        handle.seek(0)
        matlab = handle.read(128)
    if matlab.startswith(b"MATLAB 7.3"):
        raise VGGFaceWeightsError(f"{path}: a MATLAB v7.3 (HDF5) file; scipy reads MATLAB v5 files, the format "
                                  f"MatConvNet distributes. Save it again with save(..., '-v7').")
    if matlab.startswith(b"MATLAB"):
        return "matconvnet"
    if head == _HDF5_SIGNATURE:
        return "keras_vggface"
    raise VGGFaceWeightsError(f"{path}: neither a Keras HDF5 file (keras-vggface's .h5) nor a MATLAB file "
                              f"(MatConvNet's vgg_face.mat); it starts with {head!r}.")


def _decode(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _read_keras_vggface(path):
    import h5py

    layers = {}
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise VGGFaceWeightsError(f"{path}: not a readable HDF5 file ({error}).") from error
    with handle:
        group = handle.get("model_weights", handle)
        if "layer_names" not in group.attrs:
            raise VGGFaceWeightsError(f"{path}: an HDF5 file without the 'layer_names' attribute of Keras 2 "
                                      f"weights files (keras-vggface's layout); a Keras 3 '.weights.h5' file "
                                      f"of a kerasfg model loads with model.load_weights instead.")
        for name in _decode(group.attrs["layer_names"]):
            if name not in LAYERS:
                continue  # input, pooling, flatten and activation layers have no weights
            layer = group[name]
            arrays = [np.asarray(layer[weight]) for weight in _decode(layer.attrs.get("weight_names", []))]
            layers[name] = _kernel_and_bias(path, name, arrays)
    return WeightsFile(path=str(path), layout="keras_vggface", layers=layers, pool5_shapes={})


def _kernel_and_bias(path, name, arrays):
    if len(arrays) != 2:
        raise VGGFaceWeightsError(f"{path}: layer {name!r} holds {len(arrays)} arrays; expected a kernel and a "
                                  f"bias.")
    kernel, bias = (np.asarray(a, np.float32) for a in arrays)
    bias = bias.reshape(-1)
    rank = 4 if name in CONV_LAYERS else 2
    if kernel.ndim != rank or kernel.shape[-1] != bias.size:
        form = "(h, w, in, out)" if rank == 4 else "(in, out)"
        raise VGGFaceWeightsError(f"{path}: layer {name!r} has a kernel of shape {kernel.shape} and a bias of "
                                  f"{bias.size}; expected a TensorFlow-layout {form} kernel whose last axis "
                                  f"matches the bias.")
    return kernel, bias


# === MatConvNet ===


def _read_matconvnet(path):
    try:
        from scipy.io import loadmat
    except ImportError as error:
        raise ImportError("Reading MatConvNet .mat files needs scipy: pip install scipy.") from error
    try:
        data = loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except NotImplementedError as error:  # v7.3 files
        raise VGGFaceWeightsError(f"{path}: scipy cannot read this MATLAB file ({error}).") from error
    except (ValueError, TypeError, OSError) as error:
        raise VGGFaceWeightsError(f"{path}: not a readable MATLAB file ({error}).") from error
    net = data.get("net")
    if net is not None:  # vgg_face.mat of vgg_face_matconvnet.tar.gz: one struct `net`
        layer_list = getattr(net, "layers", None)
        meta = getattr(net, "meta", net)
    else:  # vgg-face.mat: top-level `layers` and `meta`
        layer_list = data.get("layers")
        meta = data.get("meta")
    if layer_list is None:
        raise VGGFaceWeightsError(f"{path}: no 'layers' (or 'net.layers') cell array of MatConvNet layers; "
                                  f"variables found: {sorted(k for k in data if not k.startswith('__'))}.")
    layers, spans = {}, {}
    for entry in np.atleast_1d(layer_list):
        name = str(getattr(entry, "name", ""))
        if name not in LAYERS:
            continue
        if str(getattr(entry, "type", "conv")) != "conv":
            raise VGGFaceWeightsError(f"{path}: layer {name!r} is of type {entry.type!r}; expected 'conv'.")
        if hasattr(entry, "weights"):
            arrays = list(np.atleast_1d(entry.weights)) if np.ndim(entry.weights) else [entry.weights]
        else:  # MatConvNet before beta9: separate fields
            arrays = [getattr(entry, "filters", None), getattr(entry, "biases", None)]
        if len(arrays) != 2 or any(a is None for a in arrays):
            raise VGGFaceWeightsError(f"{path}: layer {name!r} has no {{filters, biases}} weights.")
        filters, bias = np.asarray(arrays[0], np.float32), np.asarray(arrays[1], np.float32).reshape(-1)
        if name in CONV_LAYERS:
            layers[name] = _kernel_and_bias(path, name, [filters, bias])
            continue
        # A fully connected layer is a convolution spanning its whole input; loadmat's squeeze drops
        # the 1x1 spatial axes of fc7 and fc8.
        if filters.ndim == 2:
            filters = filters[None, None]
        if filters.ndim != 4:
            raise VGGFaceWeightsError(f"{path}: layer {name!r} has filters of shape {filters.shape}; expected "
                                      f"(h, w, in, out).")
        spans[name] = filters.shape[:3]
        layers[name] = _kernel_and_bias(path, name, [filters.reshape(-1, filters.shape[-1]), bias])
    return WeightsFile(path=str(path), layout="matconvnet", layers=layers, pool5_shapes=spans,
                       mean_rgb=_mean_rgb(meta), class_names=_class_names(meta))


def _mean_rgb(meta):
    normalization = getattr(meta, "normalization", None)
    average = getattr(normalization, "averageImage", None)
    if average is None:
        return None
    average = np.asarray(average, np.float64)
    if average.ndim == 3:  # a whole mean image
        average = average.mean(axis=(0, 1))
    return tuple(float(v) for v in average.reshape(-1)[:3]) if average.size >= 3 else None


def _class_names(meta):
    classes = getattr(meta, "classes", None)
    names = getattr(classes, "description", None)
    if names is None:
        return None
    return tuple(str(n) for n in np.atleast_1d(names))
