"""Tiny models of every kind the visualization code must handle (Functional, Sequential, nested, multi-input and
multi-output), shared by the tests of `kerasfg.vis`."""

import keras


def conv_stack():
    """Conv (ReLU activation), max pooling, conv, a ReLU layer and global average pooling, on 12x12 inputs."""
    return [keras.layers.Conv2D(4, 3, activation="relu", name="conv1"), keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(6, 3, name="conv2"), keras.layers.ReLU(name="relu2"),
            keras.layers.GlobalAveragePooling2D(name="gap")]


def functional():
    inputs = keras.Input((12, 12, 3))
    x = inputs
    for layer in conv_stack():
        x = layer(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="preds")(x))


def sequential():
    return keras.Sequential([keras.Input((12, 12, 3)), *conv_stack(), keras.layers.Dense(5, name="dense"),
                             keras.layers.Softmax(name="preds")])


def nested():
    backbone = keras.Sequential([keras.Input((12, 12, 3)), *conv_stack()], name="backbone")
    inputs = keras.Input((12, 12, 3), name="image")
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="preds")(backbone(inputs)))


def multi_output():
    image, extra = keras.Input((12, 12, 3), name="image"), keras.Input((2,), name="extra")
    x = image
    for layer in conv_stack():
        x = layer(x)
    x = keras.layers.Concatenate()([x, extra])
    return keras.Model({"image": image, "extra": extra},
                       {"identity": keras.layers.Dense(5, activation="softmax", name="identity")(x),
                        "gender": keras.layers.Dense(2, activation="softmax", name="gender")(x)})


BUILDERS = {"functional": functional, "sequential": sequential, "nested": nested, "multi_output": multi_output}


def model_inputs(kind, rng):
    image = rng.normal(size=(3, 12, 12, 3)).astype("float32")
    return {"image": image, "extra": rng.normal(size=(3, 2)).astype("float32")} if kind == "multi_output" else image
