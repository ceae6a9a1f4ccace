"""Sliding windows over sequences (every frame ends exactly one window, labels are the last frame's, the first
frame repeated where a sequence is short) and the frame- and sequence-level balancing counts."""

import numpy as np
import pytest

from kerasfg.data.windows import balance_windows, last_frames, sliding_windows, undersample

BOUNDS = np.array([[0, 5], [5, 7], [7, 20]])


def test_every_frame_ends_exactly_one_window_within_its_sequence():
    windows = sliding_windows(BOUNDS, 4)
    assert windows.shape == (20, 4)
    np.testing.assert_array_equal(np.sort(windows[:, -1]), np.arange(20))  # each frame ends one window
    np.testing.assert_array_equal(windows[0], [0, 0, 0, 0])  # padded with the sequence's first frame
    np.testing.assert_array_equal(windows[2], [0, 0, 1, 2])
    np.testing.assert_array_equal(windows[4], [1, 2, 3, 4])
    np.testing.assert_array_equal(windows[5], [5, 5, 5, 5])  # the second sequence starts afresh
    np.testing.assert_array_equal(windows[6], [5, 5, 5, 6])
    np.testing.assert_array_equal(windows[19], [16, 17, 18, 19])
    sequence = np.repeat([0, 1, 2], [5, 2, 13])
    assert all(len(set(sequence[w])) == 1 for w in windows)  # never across sequences
    assert (np.diff(windows, axis=1) >= 0).all()  # in temporal order
    labels = np.arange(20) * 10.0
    np.testing.assert_array_equal(labels[windows[:, -1]], labels)  # the label is the last frame's


def test_ckplus_windows_end_at_the_last_three_frames():
    ends = last_frames(BOUNDS, 3)
    np.testing.assert_array_equal(ends, [2, 3, 4, 5, 6, 17, 18, 19])
    windows = sliding_windows(BOUNDS, 10, ends=ends)
    np.testing.assert_array_equal(windows[:, -1], ends)
    np.testing.assert_array_equal(windows[0], [0] * 8 + [1, 2])
    np.testing.assert_array_equal(windows[-1], np.arange(10, 20))
    strided = sliding_windows(BOUNDS, 2, stride=3)
    np.testing.assert_array_equal(strided[:, -1], [1, 4, 6, 7, 10, 13, 16, 19])  # from each end back
    with pytest.raises(ValueError, match="length"):
        sliding_windows(BOUNDS, 0)


def test_frame_undersampling_counts():
    positive = np.zeros(100, bool)
    positive[[3, 10, 50, 51, 99]] = True
    keep = undersample(positive, seed=1)
    assert len(keep) == 10 and positive[keep].sum() == 5 and np.all(np.diff(keep) > 0)
    assert set(np.flatnonzero(positive)) <= set(keep.tolist())
    np.testing.assert_array_equal(keep, undersample(positive, seed=1))
    assert not np.array_equal(keep, undersample(positive, seed=2))
    assert len(undersample(~positive, seed=0)) == 10  # the minority may be either class


def test_sequence_level_balancing_counts():
    pain = np.zeros(20, bool)
    pain[[3, 12]] = True
    windows = sliding_windows(BOUNDS, 4)  # 20 windows
    painful = pain[windows].any(axis=1)
    # windows with a pain frame: those ending at 3, 4 (seq 1: frames 3 in [..3], [1..4]) and 12..15
    np.testing.assert_array_equal(np.flatnonzero(painful), [3, 4, 12, 13, 14, 15])
    keep = balance_windows(windows, pain, seed=0)
    assert len(keep) == 12 and painful[keep].sum() == 6
    assert set(np.flatnonzero(painful)) <= set(keep.tolist())
    kept_windows = windows[keep]
    assert (np.diff(kept_windows, axis=1) <= 1).all()  # whole windows: no frame skipped inside one
    assert len(balance_windows(windows, np.ones(20, bool))) == 20  # fewer calm windows than painful ones
