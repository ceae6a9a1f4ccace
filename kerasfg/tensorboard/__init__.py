"""kerasfg's TensorBoard side: `summary` writes recordings (and is the one place that decides how they
are stored). This package imports no TensorFlow itself, so that TensorBoard can load it."""
