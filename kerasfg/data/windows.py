"""Sliding windows over the frames of each sequence, and the balancing of ``002_c1e3dd09777d292a.txt``.

The LSTM of the thesis sees windows of ``length`` consecutive frames (rho = 16 on UNBC-McMaster, 10 on CK+)
and predicts the label of the window's last frame. With stride 1 every frame ends exactly one window
(``s_0 = {v_0..v_n}``, ``s_1 = {v_1..v_{n+1}}``...); windows never cross from one sequence into another, and
the first frames of a sequence, which have fewer than ``length`` frames behind them, get windows padded by
repeating the sequence's first frame (the thesis's rule for short CK+ videos).

Balancing, because no-pain frames are 84% of the archive:

- `undersample`: the CNN's training frames, the majority class randomly undersampled to the minority's size;
- `balance_windows`: the LSTM's training windows, balanced at the sequence level so that no frame is skipped
  inside a window: windows with no pain in any frame are discarded at random until there are as many as
  windows with pain in them;
- the skew-normalized evaluation (`kerasfg.pain.metrics`) undersamples the no-pain test frames the same way.

All random choices take a seed.
"""

import numpy as np


def sliding_windows(bounds, length, *, stride=1, ends=None):
    """Frame indices of the windows of every sequence.

    Args:
        bounds: ``(S, 2)`` first frame and end (exclusive) of each sequence
            (`kerasfg.data.video.FaceVideo.sequence_bounds`).
        length: frames per window (rho).
        stride: with 1, every frame ends one window; with ``k``, every ``k``-th frame counted back from
            each sequence's last frame does.
        ends: optional frame indices that may end a window (e.g. the last three frames of each CK+
            sequence); the others do not.

    Returns:
        int64 ``(W, length)``: row ``w`` lists the frames of window ``w`` in temporal order, its last entry
        the frame whose label it takes. Windows follow the sequences' order.

    Example:

    ```python
    windows = sliding_windows(video.sequence_bounds, 16)
    targets = video.labels["pspi"][windows[:, -1]]
    ```
    """
    bounds = np.asarray(bounds, np.int64).reshape(-1, 2)
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer; received {length!r}.")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be a positive integer; received {stride!r}.")
    allowed = None if ends is None else set(np.asarray(ends, np.int64).tolist())
    rows = []
    offsets = np.arange(-length + 1, 1)
    for start, stop in bounds:
        last = np.arange(stop - 1, start - 1, -stride)[::-1]
        if allowed is not None:
            last = last[[int(f) in allowed for f in last]]
        if len(last):
            rows.append(np.maximum(last[:, None] + offsets[None], start))
    return np.concatenate(rows) if rows else np.zeros((0, length), np.int64)


def last_frames(bounds, count):
    """The indices of the last ``count`` frames of every sequence (all of a shorter one)."""
    bounds = np.asarray(bounds, np.int64).reshape(-1, 2)
    return np.concatenate([np.arange(max(start, stop - count), stop) for start, stop in bounds]) if len(bounds) \
        else np.zeros(0, np.int64)


def undersample(positive, seed=0):
    """Indices that keep every item of the smaller class and as many, drawn at random, of the larger.

    Args:
        positive: bool ``(N,)`` (pain frames, for instance).
        seed: the random draw.

    Returns:
        Sorted int64 indices into ``positive``.
    """
    positive = np.asarray(positive, bool)
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    small, large = (pos, neg) if len(pos) <= len(neg) else (neg, pos)
    keep = np.random.default_rng(seed).choice(large, size=len(small), replace=False)
    return np.sort(np.concatenate([small, keep])).astype(np.int64)


def balance_windows(windows, positive_frames, seed=0):
    """Windows balanced at the sequence level (see the module docstring).

    Args:
        windows: ``(W, length)`` frame indices (`sliding_windows`).
        positive_frames: bool ``(N,)`` over frames: pain (PSPI > 0).
        seed: which no-pain windows are kept.

    Returns:
        Sorted int64 indices into ``windows``: all windows with a pain frame and as many windows without
        (all of them if they are fewer).
    """
    windows = np.asarray(windows, np.int64)
    painful = np.asarray(positive_frames, bool)[windows].any(axis=1)
    pain, calm = np.flatnonzero(painful), np.flatnonzero(~painful)
    if len(calm) <= len(pain):
        return np.arange(len(windows), dtype=np.int64)
    keep = np.random.default_rng(seed).choice(calm, size=len(pain), replace=False)
    return np.sort(np.concatenate([pain, keep])).astype(np.int64)
