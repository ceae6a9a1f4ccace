"""Export a Keras model as a versioned SavedModel that TensorFlow Serving loads unchanged.

``export_saved_model(model, "saved_models/facecls")`` writes ``saved_models/facecls/<next version>/`` with:

* the signatures of :mod:`kerasfg.export.signatures` (``serving_default`` on encoded image bytes,
  ``serve_pixels``, and ``explain`` with Grad-CAM or attention maps), each returning a dict of named outputs;
* ``assets/<head>_labels.txt`` (the class names, read by the graph), ``assets/kerasfg_export.json`` (see
  :mod:`kerasfg.export.metadata`) and any extra assets the caller gives;
* ``assets.extra/tf_serving_warmup_requests`` (PredictionLog records, see :mod:`kerasfg.export.warmup`) whose
  stored responses are the Keras model's own outputs (:mod:`kerasfg.export.reference`), which
  :func:`kerasfg.export.verify.verify_export` compares against.

The version directory is written under a temporary sibling name, checked, verified and then renamed into
place, so TF Serving's file-system poller never sees a half-written version.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import shutil
import tempfile
import time

from kerasfg.export import reference as _reference
from kerasfg.export import warmup as _warmup
from kerasfg.export._verify_worker import scan_ops
from kerasfg.export.metadata import describe, write_assets
from kerasfg.export.plan import ExportPlan
from kerasfg.export.served import ExportError
from kerasfg.export.signatures import write_archive
from kerasfg.export.verify import verify_export
from kerasfg.export.versions import next_version
from kerasfg.io_utils import atomic_directory

log = logging.getLogger(__name__)

_STAGES = ("trace and write the signatures", "scan the ops", "compute the reference outputs", "verify")


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_saved_model` wrote.

    Attributes:
        path: the version directory.
        version: its number.
        signatures: ``{signature: {"inputs": {name: {"dtype", "shape"}}, "outputs": [names]}}``.
        verification: the :class:`~kerasfg.export.verify.VerifyReport`, or None with ``verify=False``.
        seconds: how long the export took.
        plan: the :class:`~kerasfg.export.plan.ExportPlan` it was built from.
    """

    path: pathlib.Path
    version: int
    signatures: dict
    verification: object | None
    seconds: float
    plan: ExportPlan | None = None


def export_saved_model(
    model,
    base_path,
    version: int | None = None,
    *,
    class_names=None,
    explain: str | None = None,
    gradcam_layer: str | None = None,
    heads=None,
    preprocessing=None,
    sample_images_bytes: list[bytes] | None = None,
    sample_inputs: dict | None = None,
    warmup: bool = True,
    verify: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    assets: dict | None = None,
    metadata: dict | None = None,
    progress: bool = False,
    while_verifying=None,
) -> ExportResult:
    """Export ``model`` to ``<base_path>/<version>/`` for TensorFlow Serving, atomically.

    Args:
        model: a built functional ``keras.Model`` with one image input (``(B, H, W, C)`` float pixels in
            0..255; normalization inside the model), optional extra inputs (scalars or vectors per example)
            and one output or a dict of named outputs.
        base_path: the TF Serving model base path; versions are its integer subdirectories.
        version: the version to write; default the next integer. An existing version is never overwritten.
        class_names: ``{head: [name, ...]}``, or a list of names for a model with one head; adds
            ``<head>_name`` outputs and ``assets/<head>_labels.txt``.
        explain: None, ``"gradcam"`` (Grad-CAM of each head's top class, plus any map outputs) or
            ``"attention"`` (the model's attention-map outputs) adds the ``explain`` signature.
        gradcam_layer: the layer Grad-CAM weighs; by default the last spatial layer before the first head
            (`kerasfg.vis.introspect.feature_layer`, as the TensorBoard recordings and `kerasfg.vis.explain`).
        heads: the classification outputs (a list of names, or one name); default every ``(batch, classes)``
            output.
        preprocessing: a :class:`kerasfg.export.Preprocessing` (or its fields as a dict) matching the
            training pipeline; default bilinear resize to the model's input size.
        sample_images_bytes, sample_inputs: a list of encoded images and ``{extra input: values}`` for the
            warmup records and the verification (default: synthetic images and zeros).
        warmup: write ``assets.extra/tf_serving_warmup_requests``.
        verify: run :func:`kerasfg.export.verify.verify_export` on the written version before publishing it.
        rtol, atol: verification tolerance between the SavedModel's and the Keras model's outputs; default
            from the model's precision (see :func:`kerasfg.export.reference.default_tolerance`).
        assets: ``{file name: bytes or str}`` written under the version's ``assets/`` (e.g. output codes).
        metadata: extra JSON entries of ``assets/kerasfg_export.json``.
        progress: show a progress bar of the stages on a terminal.
        while_verifying: a function of no arguments, called when the verification starts: this process then
            waits for the fresh process that loads the export, and can lend its cores to other work (for
            example `kerasfg.training.fit` starts its deferred recordings).

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: the model cannot serve (Lambda layer, py_function, non-stock op, bad names...), an
            option does not fit the model, or the verification failed; nothing is published then.
        FileExistsError: the version exists.

    Example:

    ```python
    result = export_saved_model(model, "saved_models/facecls", class_names={"identity": names})
    result.path  # saved_models/facecls/1
    ```
    """
    from tqdm import tqdm

    start = time.perf_counter()
    plan = ExportPlan.for_model(model, heads=heads, class_names=class_names, explain=explain,
                                gradcam_layer=gradcam_layer, preprocessing=preprocessing, assets=assets,
                                metadata=metadata)
    if sample_images_bytes is not None and (isinstance(sample_images_bytes, (bytes, str)) or not all(
            isinstance(image, bytes) for image in sample_images_bytes)):
        raise ExportError("sample_images_bytes must be a list of encoded images (bytes), got "
                          f"{type(sample_images_bytes).__name__}")
    images = list(sample_images_bytes or _reference.sample_images(plan.preprocessing))
    extras = _reference.sample_extras(plan.served, len(images), sample_inputs)
    default_rtol, default_atol = _reference.default_tolerance(model)
    tolerance = (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)

    base = pathlib.Path(base_path)
    version = next_version(base) if version is None else int(version)
    if version < 0:
        raise ExportError(f"version must be a non-negative integer, got {version}")
    final = base / str(version)
    stages = _STAGES if verify else _STAGES[:-1]
    bar = tqdm(total=len(stages), desc=f"export {final}", unit="step", disable=None if progress else True,
               leave=False)
    scratch = None  # holds the verification requests when no warmup file is written
    report = None
    try:
        # Written and verified under a temporary name, published by one rename: TF Serving's file
        # system poller never sees a partial version, and a failed check publishes nothing.
        with atomic_directory(final) as staging:
            bar.set_postfix_str(stages[0])
            signatures = write_archive(plan, staging)
            bar.update()
            bar.set_postfix_str(stages[1])
            problems = scan_ops(staging)["problems"]
            if problems:
                raise ExportError("the exported graph would not serve in TensorFlow Serving:\n  "
                                  + "\n  ".join(problems))
            bar.update()
            bar.set_postfix_str(stages[2])
            requests_file = staging / "assets.extra" / _warmup.WARMUP_FILE
            if not warmup:
                scratch = tempfile.mkdtemp(prefix="kerasfg-verify-")
                requests_file = pathlib.Path(scratch) / _warmup.WARMUP_FILE
            _warmup.write_warmup(requests_file, _reference.reference_requests(plan, images, extras))
            write_assets(plan, staging, describe(plan, signatures, tolerance))
            bar.update()
            if verify:
                bar.set_postfix_str(stages[3])
                if while_verifying is not None:
                    while_verifying()
                report = verify_export(staging, requests_file=requests_file, rtol=tolerance[0], atol=tolerance[1],
                                       require_version_dir=False)
                if not report.ok:
                    raise ExportError(f"verification of the export failed:\n{report.summary()}")
                bar.update()
    finally:
        bar.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    log.info("exported %s (%s) in %.1f s", final, ", ".join(signatures), seconds)
    if report is not None:
        report.path = final
    return ExportResult(final, version, signatures, report, seconds, plan)
