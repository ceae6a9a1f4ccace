"""The files an export writes beside its graph: ``assets/kerasfg_export.json`` and the plan's extra assets.

``kerasfg_export.json`` describes the version for people and tools: the inputs, the heads and their class
names, the preprocessing of ``serving_default``, the signatures, the explain mode and the verification
tolerance, plus the plan's extra ``metadata`` entries. :func:`plan_from_metadata` rebuilds the
:class:`~kerasfg.export.plan.ExportPlan` of an exported version from it, to recompute its reference outputs
with a Keras model.
"""

from __future__ import annotations

import json
import pathlib

import tensorflow as tf

from kerasfg.export.plan import METADATA_ASSET, METADATA_KEYS, ExportPlan
from kerasfg.data.preprocessing import Preprocessing


def describe(plan: ExportPlan, signatures, tolerance) -> dict:
    """The content of ``kerasfg_export.json``.

    Args:
        plan: the export plan.
        signatures: what :func:`kerasfg.export.signatures.write_archive` returned.
        tolerance: ``(rtol, atol)`` of the verification.
    """
    import kerasfg

    served, gradcam = plan.served, plan.gradcam
    meta = {
        "kerasfg_version": kerasfg.__version__,
        "tensorflow_version": tf.__version__,
        "image_input": served.image_name,
        "extra_inputs": {k: {"shape": list(s), "dtype": d} for k, (s, d) in served.extras.items()},
        "heads": served.heads,
        "map_outputs": served.maps,
        "class_names": plan.class_names,
        "preprocessing": plan.preprocessing.describe(),
        "explain": {"mode": plan.explain, "gradcam_layer": gradcam.layer if gradcam else None,
                    "gradcam_score": gradcam.score_kinds() if gradcam else None},
        "signatures": signatures,
        "verification_tolerance": {"rtol": tolerance[0], "atol": tolerance[1]},
        "assets": sorted(plan.assets),
    }
    assert tuple(meta) == METADATA_KEYS, "plan.METADATA_KEYS lists the entries written here"
    return {**meta, **plan.metadata}


def write_assets(plan: ExportPlan, directory, meta):
    """Write ``meta`` as ``assets/kerasfg_export.json`` and the plan's extra assets into a version directory."""
    assets = pathlib.Path(directory) / "assets"
    assets.mkdir(exist_ok=True)
    for name, content in plan.assets.items():
        (assets / name).write_bytes(content)
    (assets / METADATA_ASSET).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def read_metadata(path) -> dict:
    """The ``assets/kerasfg_export.json`` description of an exported version."""
    return json.loads((pathlib.Path(path) / "assets" / METADATA_ASSET).read_text(encoding="utf-8"))


def plan_from_metadata(model, meta) -> ExportPlan:
    """The plan of an exported version (``meta``: its :func:`read_metadata`), for ``model``."""
    return ExportPlan.for_model(model, heads=meta["heads"], class_names=meta["class_names"] or None,
                                explain=meta["explain"]["mode"], gradcam_layer=meta["explain"]["gradcam_layer"],
                                preprocessing=Preprocessing.from_description(meta["preprocessing"]))
