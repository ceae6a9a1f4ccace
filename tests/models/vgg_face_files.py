"""Write VGG-Face weights in the two layouts users have, independently of the loader under test.

- keras-vggface: a Keras 2 ``save_weights`` HDF5 file (root attribute ``layer_names``, one group per
  layer with a ``weight_names`` attribute, ``conv1_1/conv1_1/kernel:0`` datasets; ``fc6/relu`` nests a
  ``relu`` group under ``fc6``), whose first convolution takes BGR images;
- MatConvNet: a MATLAB v5 file with a cell array of layer structs (``name``, ``type``, ``weights``
  = {filters, biases}; the fully connected layers as convolutions over their whole input), RGB, with
  ``meta.normalization.averageImage`` and ``meta.classes.description``; or the older form with one
  struct ``net`` holding ``layers``, ``normalization`` and ``classes``.
"""

import h5py
import numpy as np
import scipy.io

CONVS = [f"conv{b}_{c}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for c in range(1, n + 1)]
MEAN_RGB = np.array([129.1863, 104.7624, 93.5940])


def layer_arrays(model):
    """``{name: (kernel, bias)}`` of the VGG-Face layers of a kerasfg model (RGB, Keras layout)."""
    names = {layer.name for layer in model.layers}
    return {name: tuple(np.asarray(w) for w in model.get_layer(name).get_weights())
            for name in [*CONVS, "fc6", "fc7", "fc8"] if name in names}


def write_keras_vggface(path, arrays):
    """keras-vggface's layout; ``arrays`` as `layer_arrays` gives them (RGB)."""
    names = ["input_1"]
    for block in range(1, 6):
        names += [n for n in CONVS if n.startswith(f"conv{block}_")] + [f"pool{block}"]
    if "fc6" in arrays:
        names += ["flatten", "fc6", "fc6/relu", "fc7", "fc7/relu", "fc8", "fc8/softmax"]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name in names:
            group = f.require_group(name)
            if name not in arrays:
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            kernel, bias = arrays[name]
            if name == "conv1_1":
                kernel = kernel[:, :, ::-1, :]  # keras-vggface takes BGR
            weight_names = [f"{name}/kernel:0", f"{name}/bias:0"]
            group.attrs["weight_names"] = np.array([n.encode() for n in weight_names])
            group.create_dataset(weight_names[0], data=kernel)
            group.create_dataset(weight_names[1], data=bias)


def matconvnet_layers(arrays, pool5_side):
    """The MatConvNet cell array of layer structs (conv, relu, pool, ..., fc as conv, softmax)."""
    entries = []
    for block in range(1, 6):
        for name in [n for n in CONVS if n.startswith(f"conv{block}_")]:
            kernel, bias = arrays[name]
            entries.append(_conv(name, kernel, bias, pad=1))
            entries.append({"name": "relu" + name[4:], "type": "relu"})
        entries.append({"name": f"pool{block}", "type": "pool", "method": "max", "pool": np.array([2.0, 2.0]),
                        "stride": np.array([2.0, 2.0]), "pad": np.zeros(4)})
    if "fc6" in arrays:
        kernel, bias = arrays["fc6"]
        entries.append(_conv("fc6", kernel.reshape(pool5_side, pool5_side, 512, -1), bias, pad=0))
        entries.append({"name": "relu6", "type": "relu"})
        for name, relu in (("fc7", "relu7"), ("fc8", None)):
            kernel, bias = arrays[name]
            entries.append(_conv(name, kernel[None, None], bias, pad=0))
            if relu:
                entries.append({"name": relu, "type": "relu"})
        entries.append({"name": "prob", "type": "softmax"})
    cell = np.empty((1, len(entries)), dtype=object)
    for i, entry in enumerate(entries):
        cell[0, i] = entry
    return cell


def _conv(name, filters, bias, pad):
    weights = np.empty((1, 2), dtype=object)
    weights[0, 0] = np.asarray(filters, np.float32)
    weights[0, 1] = np.asarray(bias, np.float32)[:, None]  # MATLAB column vector
    return {"name": name, "type": "conv", "weights": weights, "stride": np.array([1.0, 1.0]),
            "pad": np.full(4, float(pad))}


def write_matconvnet(path, arrays, pool5_side, class_names=None, old_format=False):
    """MatConvNet's ``vgg-face.mat`` (or, with ``old_format``, ``vgg_face.mat``'s ``net`` struct)."""
    layers = matconvnet_layers(arrays, pool5_side)
    normalization = {"averageImage": MEAN_RGB, "imageSize": np.array([224.0, 224.0, 3.0])}
    classes = {"name": np.array(class_names or [], dtype=object),
               "description": np.array(class_names or [], dtype=object)}
    if old_format:
        scipy.io.savemat(path, {"net": {"layers": layers, "normalization": normalization, "classes": classes}})
    else:
        scipy.io.savemat(path, {"layers": layers, "meta": {"normalization": normalization, "classes": classes}})
