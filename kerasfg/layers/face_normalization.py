"""Per-pixel mean subtraction and global contrast normalization of registered faces, inside a model."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kerasfg")
class FaceNormalization(keras.layers.Layer):
    """Subtract the per-pixel mean face, then normalize each image's contrast (``002`` §2.2).

    ``y = x - mean_image``; with ``contrast=True``, per image ``y = scale * (y - m) / max(epsilon, s)`` where
    ``m`` and ``s`` are the mean and standard deviation of the image's pixels inside ``mask``; pixels outside
    the mask are 0. This is `kerasfg.data.registration.global_contrast_normalize` as a layer, so that a
    model takes registered frames as they are (0..255 RGB) and a served model normalizes them itself. The
    mean image and the mask are weights (saved with the model); `adapt` sets them from training frames.

    Computed in float32 (the default dtype of the layer), also under mixed precision.

    Args:
        contrast: apply the global contrast normalization after the mean subtraction.
        scale: the standard deviation of the normalized images. 1 is the textbook choice; a network
            pretrained on mean-subtracted 0..255 pixels (VGG-Face: standard deviation about 60) keeps its
            activations' scale with ``scale=64``.
        epsilon: floor of the divisor.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``(batch, height, width, channels)`` pixels.

    Example:

    ```python
    normalization = model.get_layer("face_normalization")
    normalization.adapt(train_frames, mask=registered.mask)   # uint8 (N, 224, 224, 3)
    ```
    """

    def __init__(self, contrast=True, scale=1.0, epsilon=1e-6, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if scale <= 0 or epsilon <= 0:
            raise ValueError(f"FaceNormalization: scale and epsilon must be positive; received {scale!r}, "
                             f"{epsilon!r}.")
        self.contrast = bool(contrast)
        self.scale = float(scale)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        height, width, channels = input_shape[1:]
        if None in (height, width, channels):
            raise ValueError(f"FaceNormalization '{self.name}' needs a known image size; received {input_shape}.")
        self.mean_image = self.add_weight(shape=(height, width, channels), initializer="zeros", trainable=False,
                                          name="mean_image")
        self.mask = self.add_weight(shape=(height, width, 1), initializer="ones", trainable=False, name="mask")

    def adapt(self, frames, mask=None, batch_size=256):
        """Set the mean image from ``frames`` ``(N, H, W, C)`` (an array or memmap) and the mask ``(H, W)``."""
        from kerasfg.data.registration import pixel_mean

        mean = pixel_mean(frames, batch_size)
        if not self.built:
            self.build((None, *mean.shape))
        if tuple(mean.shape) != tuple(self.mean_image.shape):
            raise ValueError(f"FaceNormalization '{self.name}': frames of shape {mean.shape} do not fit the "
                             f"layer's {tuple(self.mean_image.shape)}.")
        self.mean_image.assign(mean)
        if mask is not None:
            mask = np.asarray(mask, np.float32).reshape(self.mask.shape)
            self.mask.assign(mask)

    def call(self, inputs):
        x = ops.cast(inputs, "float32") - self.mean_image
        mask = self.mask
        if not self.contrast:
            return x * mask
        count = ops.sum(mask) * x.shape[-1]
        mean = ops.sum(x * mask, axis=(1, 2, 3), keepdims=True) / count
        centred = (x - mean) * mask
        std = ops.sqrt(ops.sum(centred * centred, axis=(1, 2, 3), keepdims=True) / count)
        return self.scale * centred / ops.maximum(std, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "contrast": self.contrast, "scale": self.scale, "epsilon": self.epsilon}
