"""Batches for the pain system's two models: registered frames for the CNN, feature windows for the LSTM.

Both are ``keras.utils.PyDataset``\\ s over index arrays, so that the frames can stay in a memory-mapped cache
(`kerasfg.data.registration.register_video`) and the windows are gathered from the ``(N, 4096)`` feature
matrix per batch instead of being stored ``rho`` times over. Shuffling and augmentation are seeded per
epoch.
"""

import math

import keras
import numpy as np


class FrameBatches(keras.utils.PyDataset):
    """Batches of registered frames and their targets.

    Args:
        registered: a `kerasfg.data.registration.RegisteredFrames`.
        indices: the frames to use (into the video).
        targets: ``{output: (N,) array}``, the targets of all frames of the video (None for prediction).
        batch_size: frames per batch.
        shuffle: reshuffle every epoch, and leave out the last partial batch (so that training traces one
            batch shape).
        flip: flip each frame horizontally with probability 0.5.
        noise: landmark noise of a new frontalization warp of every frame (needs ``video`` and a
            frontalization ``registered``); 0 reads the cached warps.
        video: the `kerasfg.data.video.FaceVideo` the frames come from (for ``noise``).
        seed: seeds shuffling and augmentation.
        **kwargs: ``keras.utils.PyDataset`` arguments (``workers``).
    """

    def __init__(self, registered, indices, targets=None, *, batch_size=32, shuffle=False, flip=False, noise=0.0,
                 video=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        if noise and (video is None or registered.warp is None):
            raise ValueError("Landmark noise re-warps frames: it needs the video and a frontalization "
                             "(Registration(method='frontalize')).")
        self.registered = registered
        self.indices = np.asarray(indices, np.int64)
        self.targets = None if targets is None else {k: np.asarray(v) for k, v in targets.items()}
        self.batch_size = int(batch_size)
        self.shuffle, self.flip, self.noise = shuffle, flip, float(noise)
        self.video = video
        self.seed = seed
        self.epoch = 0
        self._order = self._draw_order()

    def _draw_order(self):
        if not self.shuffle:
            return self.indices
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.indices)

    def __len__(self):
        return _batches(len(self.indices), self.batch_size, self.shuffle)

    def __getitem__(self, batch):
        chosen = self._order[batch * self.batch_size:(batch + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, batch])
        if self.noise:
            images = np.stack([self.registered.warp.warp(self.video.frame(i), self.video.landmarks[i],
                                                         noise=self.noise, rng=rng) for i in chosen])
        else:
            order = np.argsort(chosen)  # memory maps read fastest in file order
            images = np.empty((len(chosen), *self.registered.frames.shape[1:]), np.uint8)
            images[order] = self.registered.frames[chosen[order]]
        images = images.astype(np.float32)
        if self.flip:
            flipped = rng.uniform(size=len(chosen)) < 0.5
            images[flipped] = images[flipped, :, ::-1]
        if self.targets is None:
            return (images,)
        return images, {name: values[chosen] for name, values in self.targets.items()}

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._draw_order()


class WindowBatches(keras.utils.PyDataset):
    """Batches of feature windows and the targets of their last frames.

    Args:
        features: ``(N, D)`` float32 features of every frame.
        windows: ``(W, length)`` frame indices (`kerasfg.data.windows.sliding_windows`).
        targets: ``{output: (N,) array}`` over all frames (a window takes its last frame's), or None.
        batch_size: windows per batch.
        shuffle: reshuffle every epoch, and leave out the last partial batch.
        seed: seeds the shuffling.
    """

    def __init__(self, features, windows, targets=None, *, batch_size=32, shuffle=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.features = np.asarray(features, np.float32)
        self.windows = np.asarray(windows, np.int64)
        self.targets = None if targets is None else {k: np.asarray(v) for k, v in targets.items()}
        self.batch_size = int(batch_size)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self._order = self._draw_order()

    def _draw_order(self):
        count = len(self.windows)
        return np.random.default_rng([self.seed, self.epoch]).permutation(count) if self.shuffle else np.arange(count)

    def __len__(self):
        return _batches(len(self.windows), self.batch_size, self.shuffle)

    def __getitem__(self, batch):
        chosen = self.windows[self._order[batch * self.batch_size:(batch + 1) * self.batch_size]]
        x = self.features[chosen]
        if self.targets is None:
            return (x,)
        return x, {name: values[chosen[:, -1]] for name, values in self.targets.items()}

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._draw_order()


def _batches(count, batch_size, drop_remainder):
    """Batches per epoch; at least one (a smaller one) when there are fewer items than a batch."""
    return max(count // batch_size, 1 if count else 0) if drop_remainder else math.ceil(count / batch_size)
