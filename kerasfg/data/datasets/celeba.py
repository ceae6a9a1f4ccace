"""CelebA (Liu et al. 2015): 202,599 aligned faces with 40 binary attributes, in the official layout::

    root/Img/img_align_celeba/000001.jpg ... 202599.jpg      (or root/img_align_celeba/, the Kaggle copy)
    root/Anno/list_attr_celeba.txt     line 1: the count; line 2: the 40 attribute names;
                                       then "000001.jpg -1  1  1 -1 ..." (40 values of -1/1)
    root/Eval/list_eval_partition.txt  "000001.jpg 0"  (0 train 162,770 / 1 val 19,867 / 2 test 19,962)
    root/Anno/identity_CelebA.txt      "000001.jpg 2880"  (optional: subject ids and an identity task)

The files may also sit directly in ``root``. Labels: ``attributes``, a 0/1 vector of 40 (``multilabel``,
class names = attribute names), and ``identity`` when the identity file is there. Protocol: the partition
file (``split="train"/"val"/"test"``; ABN trains on train+val). Rows with the wrong number of values or
values other than -1/1, listed images that are missing, and images without a partition entry are skipped
and reported. Defaults: 112x112 RGB (the aligned images are 218x178; pass ``image_size=None`` to keep them).
"""

from kerasfg.data.datasets._common import (
    Collector,
    DatasetLayoutError,
    Task,
    find_first,
    require_dir,
)

PARTITIONS = {"0": "train", "1": "val", "2": "test"}
EXPECTED = ("img_align_celeba/, list_attr_celeba.txt and list_eval_partition.txt "
            "(at the root or in Img/, Anno/ and Eval/)")


def read_celeba(root, *, image_size=(112, 112), channels=3, report=None):
    """Read CelebA; see the module docstring."""
    root = require_dir(root, EXPECTED)
    images = find_first(root, ["Img/img_align_celeba", "img_align_celeba/img_align_celeba",
                               "img_align_celeba"], "img_align_celeba folder", EXPECTED)
    attr_file = find_first(root, ["Anno/list_attr_celeba.txt", "list_attr_celeba.txt"],
                           "attribute file", EXPECTED)
    part_file = find_first(root, ["Eval/list_eval_partition.txt", "list_eval_partition.txt"],
                           "partition file", EXPECTED)
    identity_file = next((root / p for p in ("Anno/identity_CelebA.txt", "identity_CelebA.txt")
                          if (root / p).is_file()), None)

    partitions = {}
    for line in part_file.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] in PARTITIONS:
            partitions[fields[0]] = PARTITIONS[fields[1]]
    identities = {}
    if identity_file is not None:
        for line in identity_file.read_text().splitlines():
            fields = line.split()
            if len(fields) == 2:
                identities[fields[0]] = fields[1]

    lines = attr_file.read_text().splitlines()
    if len(lines) < 2:
        raise DatasetLayoutError(f"{attr_file}: too short; expected a count line and a header line of "
                                 f"40 attribute names")
    names = tuple(lines[1].split())
    tasks = [Task("attributes", "multilabel", names)]
    identity_names = tuple(sorted(set(identities.values()), key=int)) if identities else ()
    if identities:
        tasks.append(Task("identity", "class", identity_names))
    identity_index = {n: i for i, n in enumerate(identity_names)}
    collector = Collector("celeba", root, tasks, report)
    for lineno, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        where = f"{attr_file}:{lineno}"
        image = fields[0]
        values = fields[1:]
        if len(values) != len(names):
            collector.skip(where, f"malformed attribute row: {len(values)} values, expected {len(names)}")
            continue
        if any(v not in ("1", "-1") for v in values):
            collector.skip(where, "label out of range: attribute values must be -1 or 1")
            continue
        path = images / image
        if not path.is_file():
            collector.skip(path, "image listed in list_attr_celeba.txt not found")
            continue
        if image not in partitions:
            collector.skip(path, "no entry in list_eval_partition.txt")
            continue
        labels = {"attributes": [int(v == "1") for v in values]}
        if identities:
            if image not in identities:
                collector.skip(path, "no entry in identity_CelebA.txt")
                continue
            labels["identity"] = identity_index[identities[image]]
        collector.add(path, labels, subject=identities.get(image), partition=partitions[image])
    declared = lines[0].strip()
    if declared.isdigit() and int(declared) != len(lines[2:]):
        collector.report.note(f"{attr_file} declares {declared} images but lists {len(lines[2:])}")
    return collector.build(image_size=image_size, channels=channels, expected=EXPECTED)
