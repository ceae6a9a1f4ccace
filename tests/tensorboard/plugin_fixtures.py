"""What the tensorboard tests' log directory holds (tests/tensorboard/conftest.py writes it): its runs, steps and
the values written, for the tests to compare against.

A module of its own, not conftest.py: test modules import these names, and ``from conftest import`` would find
whichever conftest module pytest imported first (tests/export has one too) when both folders run in one call.
"""

XSS_RUN = "<img src=x onerror=alert(1)>"
RUNS = ("alpha", "beta")
REAL_RUN = "real"
STEPS = (0, 1, 2)
PROBES = 4
LONG_RUN, LONG_STEPS = "long", tuple(range(15))
# The steps of each run's recordings, in tag order (probe images are written once, at step 0).
_FITTED = [list(STEPS)] * 9 + [[0]] + [list(STEPS)]
# The real run's: activations (2 layers), attention (2), confusion matrix and counts, deconvolution and deep
# visualization with their annotations, faithfulness, Grad-CAM, probe images, saliency, and the sanity checks
# with their table (recorded when training ends).
EXPECTED_STEPS = {XSS_RUN: [list(STEPS)] * 7 + [[0]] + [list(STEPS)], "alpha": _FITTED, "beta": _FITTED,
                  REAL_RUN: [list(STEPS)] * 12 + [[0]] + [list(STEPS)] + [[STEPS[-1]]] * 2,
                  LONG_RUN: [list(LONG_STEPS)]}
REAL_PROBES = PROBES + 2  # the real run's probe: more images than its heat maps show
TABLE_COLUMNS = ["method", "pointing_game", "deletion", "insertion"]


def feature_maps(step):
    """The deconvolution's feature maps written at ``step``: different at every step and for every probe image."""
    return [[(step + row) % 8, 7 - step, row] for row in range(PROBES)]


def activations(step):
    """The deep visualization's unit activations written at ``step``."""
    return [0.5 * step + unit for unit in range(3)]


def table_rows(run, step):
    """The faithfulness rows written for ``run`` at ``step``."""
    offset = RUNS.index(run) if run in RUNS else 2
    return [[method, 0.5 + 0.1 * step, 0.25 - 0.01 * step - 0.001 * offset, 0.75]
            for method in ("gradcam", "saliency")]
