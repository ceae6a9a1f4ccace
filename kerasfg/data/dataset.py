"""``FaceDataset``: labels, metadata and images of one face dataset, and the pipeline built from them."""

import json
import logging
import pathlib

import numpy as np

from kerasfg.data import formats, pipeline
from kerasfg.data.labels import Task
from kerasfg.data.report import DataReport

log = logging.getLogger(__name__)


class DatasetLayoutError(ValueError):
    """The dataset root does not exist or does not hold the layout the reader expects."""


class FaceDataset:
    """Items of a face dataset: one uint8 image and a dict of int labels each, with their metadata.

    Build one with :func:`kerasfg.data.load_dataset`, a reader from :mod:`kerasfg.data.datasets`, or
    :meth:`from_arrays`. Splitting (:meth:`subset`, :mod:`kerasfg.data.splits`) gives datasets that share the
    source and the report.

    Attributes:
        name: dataset name.
        tasks: ``{task name: Task}``.
        labels: ``{task name: int array}``, one row per item (``[N]``, or ``[N, K]`` for multilabel).
        subjects: string array of subject ids per item (the person), or ``None`` if the dataset has none.
        partitions: string array of the published partition of each item (``"train"``, ``"val"``,
            ``"test"``, ``"fold0"``...), or ``None`` if the dataset publishes no protocol.
        paths: string array naming each item (file path, CSV row, ...), for reports and error messages.
        image_size: ``(height, width)`` images are resized to, or ``None`` to keep the stored size.
        resize_method, antialias: how they are resized (``tf.image.resize``; bilinear with antialiasing by
            default, which matters when shrinking large photos to face-model sizes).
        channels: 1 (grayscale) or 3 (RGB).
        report: the :class:`~kerasfg.data.DataReport` of the load (read = used + skipped).
        default_split: how to split when there is no published protocol: ``{"by": "subject" | "image",
            "fractions": {...}}``.
    """

    def __init__(self, name, source, labels, tasks, *, source_index=None, subjects=None, partitions=None,
                 paths=None, image_size=None, channels=3, report=None, root=None, default_split=None,
                 info=None, resize_method="bilinear", antialias=True):
        self.name = name
        self.source = source
        n = len(source) if source_index is None else len(source_index)
        self.source_index = np.arange(n, dtype=np.int64) if source_index is None else np.asarray(
            source_index, np.int64)
        self.tasks = {t.name: t for t in tasks} if not isinstance(tasks, dict) else dict(tasks)
        self.labels = {k: np.asarray(v) for k, v in labels.items()}
        for task, arr in self.labels.items():
            if task not in self.tasks:
                raise ValueError(f"labels has task {task!r} that is not among the tasks {list(self.tasks)}")
            if len(arr) != n:
                raise ValueError(f"labels[{task!r}] has {len(arr)} rows for {n} items")
        self.subjects = None if subjects is None else np.asarray(subjects).astype(str)
        self.partitions = None if partitions is None else np.asarray(partitions).astype(str)
        if paths is None:
            paths = [source.item_path(i) for i in self.source_index]
        self.paths = np.asarray(paths).astype(str)
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        self.channels = channels
        self.report = report if report is not None else DataReport(name, root)
        self.root = None if root is None else str(root)
        self.default_split = default_split or {"by": "subject", "fractions": {"train": 0.7, "val": 0.1,
                                                                              "test": 0.2}}
        self.info = dict(info or {})
        self.resize_method = resize_method
        self.antialias = bool(antialias)

    # --- construction ---

    @classmethod
    def from_arrays(cls, images, labels, class_names, *, name="arrays", subjects=None, partitions=None,
                    kinds=None, report=None, image_size=None, channels=None):
        """A dataset over in-memory images (uint8 NHWC) and a dict of int label arrays.

        Args:
            images: uint8 ``[N, H, W, C]`` (or ``[N, H, W]`` grayscale).
            labels: ``{task: int array [N] or [N, K]}``.
            class_names: ``{task: list of names}``; ``None`` for a regression task.
            kinds: optional ``{task: "class" | "multilabel" | "regression"}``; inferred otherwise.
        """
        source = pipeline.ArraySource(images)
        kinds = dict(kinds or {})
        tasks = []
        for task, arr in labels.items():
            names = class_names.get(task)
            kind = kinds.get(task) or ("regression" if names is None else
                                       "multilabel" if np.ndim(arr) == 2 else "class")
            tasks.append(Task(task, kind, None if names is None else tuple(names)))
        report = report or DataReport(name)
        if report.read == 0:
            report.count_read(len(source))
        ds = cls(name, source, labels, tasks, subjects=subjects, partitions=partitions, report=report,
                 image_size=image_size, channels=channels or source.images.shape[-1])
        ds.check_labels()
        return ds

    # --- metadata ---

    def __len__(self):
        return len(self.source_index)

    def __repr__(self):
        return (f"FaceDataset({self.name!r}, {len(self)} items, tasks={list(self.tasks)}, "
                f"image_size={self.image_size}, channels={self.channels})")

    @property
    def class_names(self):
        """``{task: list of class names}`` for class and multilabel tasks."""
        return {k: list(t.class_names) for k, t in self.tasks.items() if t.class_names is not None}

    @property
    def num_classes(self):
        """``{task: number of classes}`` for class and multilabel tasks."""
        return {k: t.num_classes for k, t in self.tasks.items() if t.class_names is not None}

    @property
    def input_shape(self):
        """``(height, width, channels)`` of the images the pipeline yields."""
        size = self.image_size
        if size is None and isinstance(self.source, pipeline.ArraySource):
            size = self.source.images.shape[1:3]
        return (None, None, self.channels) if size is None else (int(size[0]), int(size[1]), self.channels)

    @property
    def split_names(self):
        """The published partitions present, in order of first appearance, or ``()``."""
        if self.partitions is None:
            return ()
        return tuple(dict.fromkeys(self.partitions.tolist()))

    def class_counts(self, task):
        """Items per class of a class task, as an int array of length ``num_classes``."""
        if self.tasks[task].kind != "class":
            raise ValueError(f"task {task!r} is {self.tasks[task].kind}, not a class task")
        return np.bincount(self.labels[task], minlength=self.tasks[task].num_classes)

    def check_labels(self):
        """Raise if a label is out of range for its task (readers skip such items before they get here)."""
        for task, arr in self.labels.items():
            t = self.tasks[task]
            if t.kind == "class" and len(arr) and (arr.min() < 0 or arr.max() >= t.num_classes):
                raise ValueError(f"{self.name}: labels[{task!r}] must be in [0, {t.num_classes}), "
                                 f"got values from {arr.min()} to {arr.max()}")
            if t.kind == "multilabel" and len(arr) and not np.isin(arr, (0, 1)).all():
                raise ValueError(f"{self.name}: labels[{task!r}] must be 0/1, got {np.unique(arr)[:5]}")
        return self

    # --- selection ---

    def subset(self, selector, name=None):
        """The items picked by a boolean mask or an index array, sharing source and report."""
        idx = np.asarray(selector)
        if idx.dtype == bool:
            if len(idx) != len(self):
                raise ValueError(f"mask has {len(idx)} entries for {len(self)} items")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        ds = FaceDataset(name or self.name, self.source, {k: v[idx] for k, v in self.labels.items()},
                         self.tasks, source_index=self.source_index[idx],
                         subjects=None if self.subjects is None else self.subjects[idx],
                         partitions=None if self.partitions is None else self.partitions[idx],
                         paths=self.paths[idx], image_size=self.image_size, channels=self.channels,
                         report=self.report, root=self.root, default_split=self.default_split,
                         info=self.info, resize_method=self.resize_method, antialias=self.antialias)
        return ds

    def with_tasks(self, tasks):
        """Keep only the named tasks."""
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        missing = [t for t in tasks if t not in self.tasks]
        if missing:
            raise ValueError(f"{self.name} has no task {missing}; its tasks are {list(self.tasks)}")
        out = self.subset(np.arange(len(self)))
        out.tasks = {t: self.tasks[t] for t in tasks}
        out.labels = {t: self.labels[t] for t in tasks}
        return out

    def validate(self):
        """Decode every image once; drop those that fail, recording each path and reason in the report."""
        bad = self.source.find_bad(self.source_index, self.channels)
        if not bad:
            return self
        keep = np.ones(len(self), bool)
        for pos, s in enumerate(self.source_index):
            if int(s) in bad:
                keep[pos] = False
                self.report.skip(self.paths[pos], bad[int(s)], stage="decode")
        return self.subset(keep)

    # --- pipelines ---

    def as_dataset(self, batch_size=32, training=False, *, tasks=None, inputs=None, targets=None,
                   shuffle=None, augment=None, seed=0, shuffle_buffer=None, cache=True, drop_remainder=None,
                   dtype="float32", repeat=False):
        """The ``tf.data`` pipeline of batches.

        Args:
            batch_size: global batch size (under ``MirroredStrategy`` it is split across replicas).
            training: shuffle, augment and drop the last partial batch.
            tasks: ``None`` for all tasks as a dict; a list of names for a dict of those; one name (a string)
                for a plain label tensor, as single-output models expect. Batches are ``(images, labels)``.
            inputs, targets: the model-input form used by ``kerasfg.training`` (and the synthetic faces):
                batches are ``({name: tensor for name in inputs}, {name: labels for name in targets})``, where
                an input is ``"image"`` or a task whose labels feed the model (int32), e.g. the expression as
                an extra input. Replaces ``tasks``.
            shuffle: reshuffle every epoch; default: ``training``.
            augment: ``None``, a preset name (``"fer"``, ``"flip"``, ``"crop_flip"``, ``"default"``), a dict or
                an :class:`~kerasfg.data.augment.AugmentConfig`; used only when ``training``.
            seed: seeds shuffling and augmentation: the same seed gives the same batches, each epoch differs.
            cache: ``True`` caches decoded, resized uint8 images in memory; a path caches them on disk;
                ``False`` decodes every epoch.
            dtype: ``"float32"`` (or ``"bfloat16"``/``"float16"``) pixels in 0..255, the scale kerasfg models
                and serving signatures use (normalization is a layer of the model); or ``"uint8"``.
            repeat: repeat forever (then pass ``steps_per_epoch`` to ``fit``).

        Returns:
            A ``tf.data.Dataset``; images are ``[B, H, W, C]``; labels are int32 (class, regression) or
            float32 (multilabel 0/1, ready for binary cross-entropy).
        """
        if inputs is not None or targets is not None:
            if tasks is not None:
                raise ValueError("pass either tasks, or inputs and targets")
            inputs = ["image"] if inputs is None else [inputs] if isinstance(inputs, str) else list(inputs)
            targets = [] if targets is None else [targets] if isinstance(targets, str) else list(targets)
            names = list(dict.fromkeys([*(n for n in inputs if n != "image"), *targets]))

            def arrange(images, y):
                x = {n: images if n == "image" else y[n] for n in inputs}
                return x, {n: y[n] for n in targets}
        elif isinstance(tasks, str):
            names = [tasks]

            def arrange(images, y):
                return images, y[tasks]
        else:
            names = list(self.tasks) if tasks is None else list(tasks)

            def arrange(images, y):
                return images, y
        for t in names:
            if t not in self.tasks:
                raise ValueError(f"{self.name} has no task {t!r}; its tasks are {list(self.tasks)}")
        labels = {t: self.labels[t].astype(np.float32 if self.tasks[t].kind == "multilabel" else np.int32)
                  for t in names}
        if self.image_size is None and not isinstance(self.source, pipeline.ArraySource):
            raise ValueError(f"{self.name}: set image_size to batch images read from files")
        return pipeline.make_dataset(
            self.source, self.source_index, labels, channels=self.channels,
            preprocessing=self.preprocessing, batch_size=batch_size,
            training=training, arrange=arrange, shuffle=shuffle, augment=augment, seed=seed,
            shuffle_buffer=shuffle_buffer, cache=cache, drop_remainder=drop_remainder, dtype=dtype,
            repeat=repeat)

    @property
    def preprocessing(self):
        """How stored images become the pipeline's pixels: a
        :class:`~kerasfg.data.preprocessing.Preprocessing`, which the serving signatures reuse to feed an
        exported model what it trained on; None when the image size is not known (files without
        ``image_size``)."""
        from kerasfg.data.preprocessing import Preprocessing

        size = self.input_shape[:2]
        if None in size:
            return None
        return Preprocessing.pipeline(size, self.channels, self.resize_method, self.antialias,
                                      origin=f"the {self.name} dataset")

    def numpy(self):
        """All images as one uint8 NHWC array and the labels dict (for small sets and tests)."""
        ds = self.as_dataset(batch_size=256, training=False, dtype="uint8", cache=False)
        images, labels = [], {t: [] for t in self.tasks}
        for x, y in ds.as_numpy_iterator():
            images.append(x)
            for t, values in labels.items():
                values.append(y[t])
        shape = (0, *(self.image_size or (0, 0)), self.channels)
        return (np.concatenate(images) if images else np.zeros(shape, np.uint8),
                {t: np.concatenate(v) if v else self.labels[t][:0] for t, v in labels.items()})

    def write_tfrecords(self, out_dir, num_shards=None, image_format="png"):
        """Write the (resized, channel-converted) images and labels as TFRecord shards plus a manifest.

        ``load_dataset("tfrecord", out_dir)`` reads them back with the same tasks, subjects and partitions.
        """
        h, w = self.image_size or (64, 64)
        num_shards = num_shards or pipeline.num_shards_for(len(self), h * w * self.channels)
        writer = pipeline.ShardWriter(out_dir, num_shards)
        ds = self.as_dataset(batch_size=64, training=False, dtype="uint8", cache=False)
        pos = 0
        for images, labels in ds.as_numpy_iterator():
            for k in range(len(images)):
                writer.write(pipeline.encode_example(
                    formats.encode_image(images[k], image_format), pos, {t: labels[t][k] for t in labels},
                    subject="" if self.subjects is None else self.subjects[pos], path=self.paths[pos]))
                pos += 1
        shards = writer.close()
        return pipeline.write_manifest(out_dir, self.manifest(shards))

    def manifest(self, shards):
        return {
            "name": self.name, "count": len(self), "shards": shards,
            "image_size": self.image_size, "channels": self.channels,
            "resize_method": self.resize_method, "antialias": self.antialias,
            "tasks": {k: {"kind": t.kind, "class_names": t.class_names} for k, t in self.tasks.items()},
            "labels": {k: v.tolist() for k, v in self.labels.items()},
            "subjects": None if self.subjects is None else self.subjects.tolist(),
            "partitions": None if self.partitions is None else self.partitions.tolist(),
            "paths": self.paths.tolist(), "default_split": self.default_split,
        }


def read_tfrecord_dir(root, report):
    """A :class:`FaceDataset` over TFRecord shards written by ``write_tfrecords`` or ``prepare-faces``."""
    root = pathlib.Path(root)
    path = root / pipeline.TFRECORD_MANIFEST
    if not path.is_file():
        raise DatasetLayoutError(
            f"{root}: expected a kerasfg TFRecord folder with {pipeline.TFRECORD_MANIFEST} and "
            f"faces-*-of-*.tfrecord shards (written by `kerasfg prepare-faces` or write_tfrecords)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != pipeline.TFRECORD_FORMAT:
        raise DatasetLayoutError(f"{path}: format {manifest.get('format')!r}, expected "
                                 f"{pipeline.TFRECORD_FORMAT!r}")
    missing = [s for s in manifest["shards"] if not (root / s).is_file()]
    if missing:
        raise DatasetLayoutError(f"{root}: the manifest lists shards that are missing: {missing[:5]}")
    tasks = [Task(k, v["kind"], None if v["class_names"] is None else tuple(v["class_names"]))
             for k, v in manifest["tasks"].items()]
    report.count_read(manifest["count"])
    return FaceDataset(manifest["name"], pipeline.TFRecordSource(root, manifest),
                       {k: np.asarray(v) for k, v in manifest["labels"].items()}, tasks,
                       subjects=manifest["subjects"], partitions=manifest["partitions"],
                       paths=manifest["paths"], image_size=manifest["image_size"],
                       channels=manifest["channels"], report=report, root=root,
                       default_split=manifest.get("default_split"),
                       resize_method=manifest.get("resize_method", "bilinear"),
                       antialias=manifest.get("antialias", True))
