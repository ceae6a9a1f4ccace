"""Readers for face datasets in the layouts their publishers distribute; one module per format.

Each reader takes the dataset root and options and returns a :class:`~kerasfg.data.FaceDataset` whose
report counts every item read and lists every item skipped with its reason. Use them through
:func:`kerasfg.data.load_dataset` (which also validates images and applies the split) or directly.
"""

from kerasfg.data.dataset import read_tfrecord_dir
from kerasfg.data.datasets.adience import read_adience
from kerasfg.data.datasets.celeba import read_celeba
from kerasfg.data.datasets.cifar import read_cifar10, read_cifar100
from kerasfg.data.datasets.ckplus import read_ckplus
from kerasfg.data.datasets.compcars import read_compcars
from kerasfg.data.datasets.fei import read_fei
from kerasfg.data.datasets.fer2013 import read_fer2013, read_fer2013_csv, read_fer2013_folders
from kerasfg.data.datasets.folder import read_folder
from kerasfg.data.datasets.imagenet import read_imagenet
from kerasfg.data.datasets.imfdb import read_imfdb
from kerasfg.data.datasets.iog import read_iog
from kerasfg.data.datasets.jaffe import read_jaffe
from kerasfg.data.datasets.manifest import read_manifest
from kerasfg.data.datasets.mnist import read_mnist
from kerasfg.data.datasets.morph import read_morph
from kerasfg.data.datasets.svhn import read_svhn
from kerasfg.data.datasets.utkface import read_utkface


def _read_tfrecord(root, *, report=None, image_size=None, channels=None):
    from kerasfg.data.report import DataReport

    ds = read_tfrecord_dir(root, report or DataReport("tfrecord", root))
    if image_size is not None:
        ds.image_size = tuple(image_size)
    if channels is not None:
        ds.channels = channels
    return ds


READERS = {
    "fer2013": read_fer2013,
    "fer2013_csv": read_fer2013_csv,
    "fer2013_folders": read_fer2013_folders,
    "ck+": read_ckplus,
    "ckplus": read_ckplus,
    "jaffe": read_jaffe,
    "fei": read_fei,
    "imfdb": read_imfdb,
    "adience": read_adience,
    "iog": read_iog,
    "images_of_groups": read_iog,
    "utkface": read_utkface,
    "celeba": read_celeba,
    "morph": read_morph,
    "cifar10": read_cifar10,
    "cifar100": read_cifar100,
    "svhn": read_svhn,
    "mnist": read_mnist,
    "imagenet": read_imagenet,
    "compcars": read_compcars,
    "folder": read_folder,
    "manifest": read_manifest,
    "tfrecord": _read_tfrecord,
}

__all__ = [
    "READERS", "read_adience", "read_celeba", "read_cifar10", "read_cifar100", "read_ckplus", "read_compcars",
    "read_fei", "read_fer2013", "read_fer2013_csv", "read_fer2013_folders", "read_folder", "read_imagenet",
    "read_imfdb", "read_iog", "read_jaffe", "read_manifest", "read_mnist", "read_morph", "read_svhn",
    "read_tfrecord_dir", "read_utkface",
]
