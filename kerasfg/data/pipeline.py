"""tf.data building blocks: image sources, the training/evaluation pipeline, TFRecord shards.

A :class:`~kerasfg.data.FaceDataset` holds labels and metadata as NumPy arrays and one *source* that turns
items into uint8 images:

- :class:`FileSource`: image files, decoded in parallel by ``tf.io.decode_image`` (JPEG, PNG, BMP, GIF) or,
  for formats TensorFlow cannot decode (TIFF, PGM/PPM: JAFFE ships TIFF), by Pillow;
- :class:`ArraySource`: images already in memory (uint8 NHWC), e.g. the FER2013 CSV or synthetic faces;
- :class:`TFRecordSource`: shards written by :func:`write_tfrecords` or ``prepare-faces``.

:func:`make_dataset` assembles the pipeline in the order that measured fastest (ECOSYSTEM.md f.3):
shuffle the file list, decode in parallel, resize, cache the deterministic uint8 result, shuffle, batch,
augment per batch with stateless seeds, scale, prefetch. Images are decoded and resized by
:mod:`kerasfg.data.preprocessing`, the definition the serving signatures share. Decoding a corrupt file raises
inside the graph, so file sources are validated once up front (:meth:`FileSource.find_bad`), which gives each
bad path its reason.
"""

import json
import logging
import math
import os
import pathlib

import numpy as np
import tensorflow as tf

from kerasfg.data import augment as augment_lib
from kerasfg.data import preprocessing as preprocessing_lib
from kerasfg.data.formats import TF_IMAGE_EXTENSIONS, sniff_format

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
TFRECORD_MANIFEST = "manifest.json"
TFRECORD_FORMAT = "kerasfg-faces-tfrecord"


# === Decoding ===

def to_uint8_pixels(image, preprocessing):
    """``image`` (uint8 ``[H, W, C]``) resized by ``preprocessing`` (:func:`kerasfg.data.preprocessing.resize`,
    the definition serving shares), as uint8 for the cache; the stored size when ``preprocessing`` is None.

    Exact: the training pipeline's preprocessing rounds (``quantize``), so casting loses nothing.
    """
    if preprocessing is None:
        return image
    return tf.cast(preprocessing_lib.resize(image, preprocessing), tf.uint8)


def _pil_decode(path, channels):
    from PIL import Image

    with Image.open(path.decode() if isinstance(path, bytes) else path) as im:
        im.load()
        arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def decode_file(path, channels, decoder="tf"):
    """Read and decode the image file at ``path`` (a string tensor) to uint8 ``[H, W, channels]``: with
    :func:`kerasfg.data.preprocessing.decode`, as serving decodes, or with Pillow for the formats TensorFlow
    does not read."""
    if decoder == "tf":
        return preprocessing_lib.decode(tf.io.read_file(path), channels)
    image = tf.numpy_function(lambda p: _pil_decode(p, channels), [path], tf.uint8, stateful=False)
    image.set_shape([None, None, channels])
    return image


# === Sources ===

class FileSource:
    """Images in files, one path per source item.

    Args:
        paths: the file paths.
        decoder: ``"tf"`` (JPEG/PNG/BMP/GIF), ``"pil"`` (anything Pillow reads) or ``"auto"``: Pillow when
            any path has an extension TensorFlow cannot decode.
    """

    def __init__(self, paths, decoder="auto"):
        self.paths = np.asarray([str(p) for p in paths], dtype=object)
        if decoder == "auto":
            exts = {os.path.splitext(p)[1].lower() for p in self.paths}
            decoder = "tf" if exts <= TF_IMAGE_EXTENSIONS else "pil"
        if decoder not in ("tf", "pil"):
            raise ValueError(f"decoder must be 'tf', 'pil' or 'auto', got {decoder!r}")
        self.decoder = decoder

    def __len__(self):
        return len(self.paths)

    def item_path(self, index):
        return self.paths[index]

    def elements(self, source_index, labels, channels, preprocessing, shuffle_seed=None):
        """``(uint8 image, labels dict)`` elements for the items ``source_index`` (in that order, or shuffled),
        resized by ``preprocessing`` (a :class:`~kerasfg.data.preprocessing.Preprocessing`)."""
        ds = tf.data.Dataset.from_tensor_slices((self.paths[source_index].astype(str), labels))
        if shuffle_seed is not None:
            ds = ds.shuffle(len(source_index), seed=shuffle_seed, reshuffle_each_iteration=True)

        def load(path, y):
            return to_uint8_pixels(decode_file(path, channels, self.decoder), preprocessing), y

        return ds.map(load, num_parallel_calls=AUTOTUNE)

    def find_bad(self, source_index, channels):
        """Decode every item once, in parallel; return ``{source index: reason}`` for those that fail.

        Failing items are found with ``ignore_errors`` (whatever raises inside the graph), then re-read one by
        one to name the reason: missing, not an image (unknown signature), or corrupt/truncated.
        """
        source_index = np.asarray(source_index, np.int64)
        if len(source_index) == 0:
            return {}
        paths = self.paths[source_index].astype(str)

        def check(i, path):
            image = decode_file(path, channels, self.decoder)
            tf.debugging.assert_positive(tf.size(image), message="empty image")
            return i

        ds = tf.data.Dataset.from_tensor_slices((source_index, paths))
        ds = ds.map(check, num_parallel_calls=AUTOTUNE, deterministic=False).ignore_errors()
        ok = {int(i) for chunk in ds.batch(4096).as_numpy_iterator() for i in chunk}
        bad = {}
        for i in source_index:
            if int(i) not in ok:
                bad[int(i)] = self.reason(int(i), channels)
        return bad

    def reason(self, index, channels):
        path = str(self.paths[index])
        if not os.path.isfile(path):
            return "file not found"
        with open(path, "rb") as f:
            head = f.read(16)
        if not head:
            return "empty file"
        kind = sniff_format(head)
        if kind is None:
            return "not an image: unknown file signature " + repr(head[:8])
        try:
            if self.decoder == "pil":
                _pil_decode(path, channels)
            else:
                decode_file(tf.constant(path), channels, self.decoder)
        except (tf.errors.OpError, OSError, ValueError, SyntaxError) as e:
            message = str(getattr(e, "message", e)).strip().splitlines()[0][:200]
            return f"corrupt or truncated {kind} image: {message}"
        return f"{kind} image failed to decode in tf.data"


class ArraySource:
    """Images held in memory as one uint8 ``[N, H, W, C]`` array (C = 1 or 3)."""

    def __init__(self, images):
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be uint8 NHWC with 1 or 3 channels, got shape {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (0..255), got dtype {images.dtype}")
        self.images = images
        self.decoder = "array"

    def __len__(self):
        return len(self.images)

    def item_path(self, index):
        return f"<array item {index}>"

    def elements(self, source_index, labels, channels, preprocessing, shuffle_seed=None):
        images = self.images[source_index]
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        if shuffle_seed is not None:
            ds = ds.shuffle(len(source_index), seed=shuffle_seed, reshuffle_each_iteration=True)
        if channels == images.shape[-1] and (preprocessing is None or preprocessing.image_size == images.shape[1:3]):
            return ds

        def load(image, y):
            return to_uint8_pixels(preprocessing_lib.to_channels(image, channels), preprocessing), y

        return ds.map(load, num_parallel_calls=AUTOTUNE)

    def find_bad(self, source_index, channels):
        return {}


class TFRecordSource:
    """Faces in TFRecord shards with a ``manifest.json`` (written by :func:`write_tfrecords`).

    Each record holds ``image`` (encoded PNG/JPEG bytes), ``index`` (the item's position in the manifest),
    and ``label/<task>`` (int64 list) features; the manifest holds the same labels and metadata as arrays.
    """

    def __init__(self, root, manifest):
        self.root = pathlib.Path(root)
        self.manifest = manifest
        self.files = [str(self.root / f) for f in manifest["shards"]]
        self.decoder = "tfrecord"

    def __len__(self):
        return int(self.manifest["count"])

    def item_path(self, index):
        return self.manifest["paths"][index]

    def elements(self, source_index, labels, channels, preprocessing, shuffle_seed=None):
        wanted = np.zeros(len(self), bool)
        wanted[source_index] = True
        wanted = tf.constant(wanted)
        spec = {"image": tf.io.FixedLenFeature([], tf.string), "index": tf.io.FixedLenFeature([], tf.int64)}
        for task, arr in labels.items():
            spec[f"label/{task}"] = tf.io.FixedLenFeature(np.shape(arr)[1:] or [], tf.int64)

        files = tf.data.Dataset.from_tensor_slices(self.files)
        if shuffle_seed is not None:
            files = files.shuffle(len(self.files), seed=shuffle_seed, reshuffle_each_iteration=True)
        # Records are dealt round-robin over the shards, so reading all shards in turn (one record each)
        # restores the manifest order; when shuffling, 8 shards at a time are enough.
        cycle = len(self.files) if shuffle_seed is None else min(8, len(self.files))
        ds = files.interleave(tf.data.TFRecordDataset, cycle_length=cycle, block_length=1,
                              num_parallel_calls=AUTOTUNE)
        ds = ds.map(lambda r: tf.io.parse_single_example(r, spec), num_parallel_calls=AUTOTUNE)
        ds = ds.filter(lambda ex: tf.gather(wanted, ex["index"]))
        if shuffle_seed is not None:
            ds = ds.shuffle(min(len(source_index), 10_000), seed=shuffle_seed, reshuffle_each_iteration=True)

        def load(ex):
            image = to_uint8_pixels(preprocessing_lib.decode(ex["image"], channels), preprocessing)
            dtypes = {task: arr.dtype for task, arr in labels.items()}
            return image, {task: tf.cast(ex[f"label/{task}"], dtypes[task]) for task in labels}

        return ds.map(load, num_parallel_calls=AUTOTUNE)

    def find_bad(self, source_index, channels):
        return {}  # records are checked when written


# === The pipeline ===

def make_dataset(source, source_index, labels, *, channels, preprocessing, batch_size, training, arrange,
                 shuffle=None, augment=None, seed=0, shuffle_buffer=None, cache=True, drop_remainder=None,
                 dtype="float32", repeat=False):
    """Build the ``tf.data`` pipeline; see :meth:`kerasfg.data.FaceDataset.as_dataset` for the arguments.

    ``preprocessing`` (a :class:`~kerasfg.data.preprocessing.Preprocessing` that rounds, or None to keep the
    stored size of in-memory images) resizes the decoded images; ``arrange(images, labels)`` gives the final
    ``(x, y)`` structure of a batch.
    """
    source_index = np.asarray(source_index, np.int64)
    if len(source_index) == 0:
        raise ValueError("cannot build a pipeline over an empty dataset (0 items after splitting and skips)")
    if preprocessing is not None and not preprocessing.quantize:
        raise ValueError("the pipeline caches uint8 images: its preprocessing must round (quantize=True)")
    config = augment_lib.get_config(augment if training else None)
    shuffle = training if shuffle is None else shuffle
    if drop_remainder is None:
        drop_remainder = training
    # Without a cache, shuffle the (cheap) file list before decoding; with one, after the cache.
    ds = source.elements(source_index, labels, channels, preprocessing,
                         shuffle_seed=seed if shuffle and not cache else None)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
        if shuffle:
            buffer = shuffle_buffer or min(len(source_index), 20_000)
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE,
                  deterministic=True)

    def finish(images, y, batch_seed=None):
        if dtype != "uint8":
            if batch_seed is not None:  # augments uint8 (faster warps), returns float32 pixels 0..255
                images = augment_lib.augment_batch(images, batch_seed, config)
            else:
                images = augment_lib.to_float(images)
            images = tf.cast(images, dtype)
        return arrange(images, y)

    if config.active:
        if dtype == "uint8":
            raise ValueError("augmentation needs float images; use dtype='float32' (or augment=None)")
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda batch, s: finish(batch[0], batch[1], s), num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(finish, num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    # FILE sharding needs >= 1 shard per worker; DATA always works (each worker skips the others' batches).
    files = getattr(source, "files", ())
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE if len(files) >= 8
        else tf.data.experimental.AutoShardPolicy.DATA)
    return ds.with_options(options).prefetch(AUTOTUNE)


# === TFRecord shards ===

def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in np.ravel(values)]))


def encode_example(encoded_image, index, labels, subject=b"", path=b""):
    """One serialized ``tf.train.Example`` in the kerasfg face record format."""
    feature = {"image": _bytes(encoded_image), "index": _ints([index]),
               "subject": _bytes(subject.encode() if isinstance(subject, str) else subject),
               "path": _bytes(path.encode() if isinstance(path, str) else path)}
    for task, value in labels.items():
        feature[f"label/{task}"] = _ints(value)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ShardWriter:
    """Writes serialized examples round-robin into ``num_shards`` files, atomically renamed on close."""

    def __init__(self, out_dir, num_shards, prefix="faces"):
        self.out_dir = pathlib.Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.names = [f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
        self.writers = [tf.io.TFRecordWriter(str(self.out_dir / f".{n}.tmp")) for n in self.names]
        self.count = 0

    def write(self, record):
        self.writers[self.count % len(self.writers)].write(record)
        self.count += 1

    def close(self):
        for name, writer in zip(self.names, self.writers):
            writer.close()
            os.replace(self.out_dir / f".{name}.tmp", self.out_dir / name)
        return self.names


def write_manifest(out_dir, manifest):
    """Write ``manifest.json`` atomically (the last file written: a complete manifest means complete shards)."""
    from kerasfg.io_utils import write_text

    manifest = {"format": TFRECORD_FORMAT, "version": 1, **manifest}
    write_text(pathlib.Path(out_dir) / TFRECORD_MANIFEST, json.dumps(manifest))
    return pathlib.Path(out_dir) / TFRECORD_MANIFEST


def num_shards_for(count, bytes_per_item, target_bytes=128 << 20):
    """Shards of about ``target_bytes`` (ECOSYSTEM.md f.3: 100-200 MB), at least one."""
    return max(1, math.ceil(count * bytes_per_item / target_bytes))
