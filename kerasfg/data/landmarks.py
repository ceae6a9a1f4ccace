"""The 66-point AAM landmark order of the UNBC-McMaster archive, its named groups, and the coarse subset
that frontalization warps with.

The archive's 66 points (Lucey et al. 2011) are the 68 points of the Multi-PIE / iBUG markup without the
two inner mouth corners (68-point indices 60 and 64); CK+ ships the 68 points, which
`from_68` reduces to this order. Indices, 0-based, as the face is seen in the image (the subject's
right is the image's left):

====================  ==========
group                 indices
====================  ==========
jaw                   0-16
right_brow            17-21
left_brow             22-26
nose_bridge           27-30 (30 is the nose tip)
nose_base             31-35
right_eye             36-41
left_eye              42-47
outer_lip             48-59 (48 and 54 are the mouth corners)
inner_lip             60-65
====================  ==========

``COARSE`` is the subset the frontalization warp pins to the mean shape (`kerasfg.data.registration`):
the jaw line, the nose bridge and the outer corners of the eyes and brows. The thesis warps with "a coarser
subset" so that closed eyes and mouth gestures survive the warp (its Figure 2.4) without saying which; this
one leaves the eyelids, the inner brows (which pain lowers), the nose base (which the nose wrinkle and the
upper-lip raise move) and the lips free. Pass any other list of indices where a subset is asked for.
"""

import numpy as np

NUM_POINTS = 66
GROUPS = {
    "jaw": tuple(range(0, 17)),
    "right_brow": tuple(range(17, 22)),
    "left_brow": tuple(range(22, 27)),
    "nose_bridge": tuple(range(27, 31)),
    "nose_base": tuple(range(31, 36)),
    "right_eye": tuple(range(36, 42)),
    "left_eye": tuple(range(42, 48)),
    "outer_lip": tuple(range(48, 60)),
    "inner_lip": tuple(range(60, 66)),
}
NOSE_TIP = 30
EYE_CORNERS = (36, 45)
"""Outer corners of the right and left eye."""
COARSE = (*GROUPS["jaw"], 17, 26, *GROUPS["nose_bridge"], *EYE_CORNERS)


def from_68(points):
    """The 66-point AAM order from 68-point landmarks ``(..., 68, 2)``: drops the inner mouth corners."""
    points = np.asarray(points)
    if points.shape[-2:] != (68, 2):
        raise ValueError(f"Expected 68-point landmarks of shape (..., 68, 2); received {points.shape}.")
    keep = [i for i in range(68) if i not in (60, 64)]
    return points[..., keep, :]


def check_subset(subset, num_points=NUM_POINTS):
    """``subset`` as a sorted int array of distinct indices into ``num_points`` landmarks, at least three."""
    indices = np.unique(np.asarray(subset, np.int64).reshape(-1))
    if len(indices) < 3 or indices.min() < 0 or indices.max() >= num_points:
        raise ValueError(f"A landmark subset needs at least 3 distinct indices in [0, {num_points}); received "
                         f"{list(np.asarray(subset).reshape(-1))}.")
    return indices
