"""``kerasfg prepare-faces SRC DST``: detect, align and crop every image of a dataset into TFRecord shards.

The output folder holds ``faces-*-of-*.tfrecord`` shards, ``manifest.json`` (read back with
``load_dataset("tfrecord", DST)``, keeping the source's labels, subjects and published partitions) and the
report ``prepare_report.json`` / ``prepare_report_skipped.tsv``: faces found, files without a face, unreadable
files and files that are not images, each with its path. Counts reconcile: read = aligned + skipped.

Work is spread over processes (``workers``), each loading its own detector once; a progress bar shows the
rate. The main process writes the shards in the source's order, so the output does not depend on the number
of workers.
"""

import dataclasses
import logging
import multiprocessing
import os
import pathlib

import numpy as np

from kerasfg.data import formats
from kerasfg.data.align import ALIASES, DETECTORS, FaceAligner
from kerasfg.data.report import DataReport

# Nothing here imports TensorFlow at module level: the `kerasfg` command registers this parser without
# loading TensorFlow, and the alignment worker processes (dlib detectors) start without it.

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PrepareResult:
    """What ``prepare_faces`` did: the output folder, counts, and the full report."""

    out_dir: pathlib.Path
    manifest: pathlib.Path
    report: DataReport
    aligned: int
    no_face: int
    unreadable: int
    multiple_faces: int

    def summary(self):
        return (f"prepare-faces: {self.aligned} faces aligned, {self.no_face} files without a face, "
                f"{self.unreadable} unreadable, {self.multiple_faces} with several faces (largest kept); "
                f"written to {self.out_dir}\n{self.report.summary()}")


def source_items(src, dataset="auto", **options):
    """The source as a :class:`~kerasfg.data.FaceDataset` (stored sizes, no validation).

    ``dataset="auto"``: a folder per class when ``src`` has sub-folders and no images of its own, otherwise
    every image file under ``src`` (no labels). Any reader name of ``load_dataset`` works too.
    """
    from kerasfg.data.datasets import READERS
    from kerasfg.data.datasets._common import require_dir

    if dataset == "auto":
        root = require_dir(src, "a folder of images, or of class folders of images")
        own_images = any(f.is_file() and os.path.splitext(f.name)[1].lower() in
                         formats.IMAGE_EXTENSIONS for f in root.iterdir())
        dataset = "images" if own_images or not any(p.is_dir() for p in root.iterdir()) else "folder"
    if dataset == "images":
        return _image_files(src)
    if dataset not in READERS:
        raise ValueError(f"unknown dataset {dataset!r}; expected 'auto', 'images' or one of {sorted(READERS)}")
    return READERS[dataset](src, image_size=None, **options)


def _image_files(src):
    from kerasfg.data.datasets._common import (
        Collector,
        DatasetLayoutError,
        is_image_name,
        list_files,
        require_dir,
    )

    root = require_dir(src, "a folder of image files")
    collector = Collector("images", root, [])
    for f in list_files(root, recursive=True):
        if is_image_name(f):
            collector.add(f, {})
        else:
            collector.skip(f, f"not an image file (extension {f.suffix or 'none'!r})")
    if not len(collector):
        raise DatasetLayoutError(f"{root}: no image files found; expected a folder of images")
    return collector.build(image_size=None, channels=3, expected="a folder of image files")


_ALIGNER = None


def _init_worker(config):
    global _ALIGNER
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _ALIGNER = FaceAligner(**config)


def _load(item):
    """Decode one item to an RGB/gray uint8 array, or raise."""
    from PIL import Image

    if isinstance(item, np.ndarray):
        return item
    with Image.open(item) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def _work(args):
    """Align one item: ``(position, status, encoded image or None, faces found, message)``."""
    pos, item, image_format = args
    try:
        image = _load(item)
    except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for unreadable / truncated files
        return pos, "unreadable", None, 0, f"{type(e).__name__}: {e}"
    aligned, n = _ALIGNER.align(image)
    if aligned is None:
        return pos, "no_face", None, 0, "no face found"
    return pos, "ok", formats.encode_image(aligned, image_format), n, ""


def prepare_faces(src, dst, *, detector="dlib-hog", landmarks=68, size=112, margin=0.0, workers=None,
                  num_shards=None, image_format="png", dataset="auto", upsample=1, min_score=0.0,
                  progress=True, **options):
    """Align every image of ``src`` into TFRecord shards in ``dst``; see the module docstring.

    Args:
        src: the source dataset root.
        dst: the output folder (created; existing shards of the same name are replaced).
        detector, landmarks, size, margin, upsample, min_score: see :class:`~kerasfg.data.align.FaceAligner`.
        workers: processes (default: the CPU count; 1 aligns in this process).
        num_shards: shards to write (default: about 128 MB each).
        image_format: ``"png"`` (lossless) or ``"jpeg"``.
        dataset: how to read ``src``: ``"auto"``, ``"images"``, ``"folder"`` or any ``load_dataset`` name
            (labels, subjects and partitions are carried into the shards).
        progress: show a tqdm progress bar.
        **options: reader options (e.g. ``labels_file=`` for FEI).

    Returns:
        A :class:`PrepareResult`; the report is also written to ``dst``.
    """
    from tqdm.auto import tqdm

    from kerasfg.data import pipeline

    ds = source_items(src, dataset, **options)
    report = ds.report
    report.name = "prepare-faces"
    config = FaceAligner(detector, landmarks, size, margin, upsample=upsample, min_score=min_score).config()
    workers = workers or os.cpu_count() or 1
    n = len(ds)
    h, w = config["size"]
    num_shards = num_shards or pipeline.num_shards_for(n, h * w * 3 // 2)
    dst = pathlib.Path(dst)
    writer = pipeline.ShardWriter(dst, num_shards)
    if isinstance(ds.source, pipeline.ArraySource):
        items = [ds.source.images[s] for s in ds.source_index]
    else:
        items = [str(p) for p in ds.paths]
    jobs = ((pos, item, image_format) for pos, item in enumerate(items))
    keep, counts = [], {"ok": 0, "no_face": 0, "unreadable": 0, "multiple": 0}
    bar = tqdm(total=n, desc=f"prepare-faces ({config['detector']})", unit="img", disable=not progress)
    try:
        if workers == 1:
            _init_worker(config)
            results = map(_work, jobs)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker, (config,))
            results = pool.imap(_work, jobs, chunksize=4)
        for pos, status, encoded, faces, message in results:
            bar.update(1)
            counts[status] += 1
            if status == "ok":
                counts["multiple"] += faces > 1
                labels = {t: ds.labels[t][pos] for t in ds.tasks}
                writer.write(pipeline.encode_example(
                    encoded, len(keep), labels, subject="" if ds.subjects is None else ds.subjects[pos],
                    path=ds.paths[pos]))
                keep.append(pos)
            else:
                report.skip(ds.paths[pos], "no face found" if status == "no_face" else
                            f"unreadable image: {message}", stage="align")
        bar.set_postfix(faces=counts["ok"], no_face=counts["no_face"], unreadable=counts["unreadable"])
    finally:
        bar.close()
        if workers != 1 and pool is not None:
            pool.close()
            pool.join()
    shards = writer.close()
    out = ds.subset(np.asarray(keep, np.int64))
    out.image_size, out.channels = tuple(config["size"]), 3
    manifest = dict(out.manifest(shards), name=f"{ds.name}-aligned",
                    alignment=dict(config, size=list(config["size"])))
    manifest_path = pipeline.write_manifest(dst, manifest)
    if counts["multiple"]:
        report.note(f"{counts['multiple']} images had more than one face; the largest was kept")
    report.note(f"aligned with {config}")
    report.check()
    report.write(dst, stem="prepare_report")
    return PrepareResult(dst, manifest_path, report, counts["ok"], counts["no_face"], counts["unreadable"],
                         counts["multiple"])


# === command line ===

def add_prepare_faces_parser(subparsers):
    """Register ``prepare-faces`` on an argparse ``subparsers`` object; run it with ``args.handler(args)``."""
    p = subparsers.add_parser(
        "prepare-faces", help="detect, align and crop the faces of a dataset into TFRecord shards",
        description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="source dataset root (a folder of images, class folders, or a dataset layout)")
    p.add_argument("dst", help="output folder for the shards, manifest.json and the report")
    p.add_argument("--detector", default="dlib", choices=sorted(DETECTORS + tuple(ALIASES)),
                   help="face detector (default: dlib = dlib HOG)")
    p.add_argument("--landmarks", type=int, default=68, choices=(5, 68), help="landmark model (default 68)")
    p.add_argument("--size", type=int, default=112, help="output side in pixels (default 112)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="context around the face, fraction of its width per side (default 0)")
    p.add_argument("--dataset", default="auto",
                   help="how to read SRC: auto, images, folder, or a dataset name (fer2013, ck+, ...)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.add_argument("--shards", type=int, default=None, help="number of TFRecord shards (default: ~128 MB each)")
    p.add_argument("--format", dest="image_format", default="png", choices=("png", "jpeg"),
                   help="image encoding inside the records (default png)")
    p.add_argument("--upsample", type=int, default=1, help="dlib detector upsampling (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_prepare_faces)
    return p


def _run_prepare_faces(args):
    result = prepare_faces(args.src, args.dst, detector=args.detector, landmarks=args.landmarks,
                           size=args.size, margin=args.margin, workers=args.workers, num_shards=args.shards,
                           image_format=args.image_format, dataset=args.dataset, upsample=args.upsample,
                           progress=not args.no_progress)
    print(result.summary())
    if not result.aligned:
        from kerasfg.errors import UserError

        raise UserError(f"no face was aligned from {args.src} (see the report above); the output holds no "
                        "examples")
    return 0
