"""CUB-200-2011's class attributes (Wah et al. 2011), in the layout of its published archive::

    CUB_200_2011/classes.txt                                           # "1 001.Black_footed_Albatross"
    CUB_200_2011/attributes/class_attribute_labels_continuous.txt      # 200 lines of 312 percentages
    attributes.txt  (next to CUB_200_2011/, as the archive has it;     # "1 has_bill_shape::curved_(up_or_down)"
                     or CUB_200_2011/attributes.txt, or CUB_200_2011/attributes/attributes.txt)

Line ``i`` of ``class_attribute_labels_continuous.txt`` holds, for the ``i``-th class of ``classes.txt``,
the percentage of its images annotated with each of the 312 attributes of ``attributes.txt``, in that
file's order. This is what Table 6.2 of the thesis correlates with the output-code bits. The images
themselves are read with the folder reader (one folder per class), as the experiments' fine-grained
tables do; their folder names are the class names of ``classes.txt``.
"""

import dataclasses

import numpy as np

from kerasfg.data.datasets._common import DatasetLayoutError, find_first, require_dir

EXPECTED = ("CUB-200-2011's CUB_200_2011/ folder with classes.txt, attributes/class_attribute_labels_continuous.txt "
            "and attributes.txt (next to the folder, in it, or in its attributes/)")
MATRIX = "attributes/class_attribute_labels_continuous.txt"
NAMES = ("attributes.txt", "attributes/attributes.txt", "../attributes.txt")


@dataclasses.dataclass(frozen=True)
class ClassAttributes:
    """Per-class attribute values.

    Attributes:
        class_names: one name per class (``"001.Black_footed_Albatross"``).
        attribute_names: one name per attribute (``"has_bill_shape::curved_(up_or_down)"``).
        values: float64 ``(classes, attributes)``: the percentage of each class's images with each attribute.
    """

    class_names: tuple
    attribute_names: tuple
    values: np.ndarray

    def for_classes(self, names, source):
        """The rows of ``names``, in that order (a model's classes).

        Raises:
            ValueError: naming the classes that have no attributes (``source`` says where they come from).
        """
        index = {name: i for i, name in enumerate(self.class_names)}
        missing = [name for name in names if name not in index]
        if missing:
            raise ValueError(f"{len(missing)} classes of {source} have no attributes: {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}; the attribute file's classes are "
                             f"{list(self.class_names[:3])} ...")
        return self.values[[index[name] for name in names]]


def readable_attribute(name):
    """``"has_belly_color::red"`` -> ``"belly-color red"``: CUB's name as the thesis prints it."""
    part, _, value = name.partition("::")
    part = part.removeprefix("has_").replace("_", "-")
    return f"{part} {value.replace('_', ' ')}".strip()


def _numbered_lines(path, what):
    """``[(number, text)]`` of a CUB list file (``"<1-based number> <text>"`` per line), checked in order."""
    entries = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        number, _, text = line.strip().partition(" ")
        if number != str(len(entries) + 1) or not text:
            raise DatasetLayoutError(f"{path}: line {line_number}: expected '{len(entries) + 1} <{what}>', got "
                                     f"{line.strip()[:60]!r}")
        entries.append(text.strip())
    if not entries:
        raise DatasetLayoutError(f"{path}: no {what}s; expected one '<number> <{what}>' per line")
    return tuple(entries)


def read_class_attributes(root):
    """Read CUB-200-2011's per-class attribute percentages; see the module docstring.

    Args:
        root: the ``CUB_200_2011`` folder (or the folder holding it).

    Returns:
        A `ClassAttributes`.

    Raises:
        DatasetLayoutError: a file is missing, a line is malformed (naming the file and the line), or
            the matrix's shape does not match the class and attribute lists.
    """
    root = require_dir(root, EXPECTED)
    if not (root / "classes.txt").is_file() and (root / "CUB_200_2011").is_dir():
        root = root / "CUB_200_2011"
    classes = _numbered_lines(find_first(root, ["classes.txt"], "class list", EXPECTED), "class name")
    names = _numbered_lines(find_first(root, NAMES, "attribute list", EXPECTED), "attribute name")
    path = find_first(root, [MATRIX], "class attribute matrix", EXPECTED)
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([float(value) for value in line.split()])
        except ValueError as error:
            raise DatasetLayoutError(f"{path}: line {line_number}: {error}; expected {len(names)} numbers") from None
        if len(rows[-1]) != len(names):
            raise DatasetLayoutError(f"{path}: line {line_number} has {len(rows[-1])} values; expected one per "
                                     f"attribute of attributes.txt ({len(names)})")
    if len(rows) != len(classes):
        raise DatasetLayoutError(f"{path}: {len(rows)} lines; expected one per class of classes.txt ({len(classes)})")
    return ClassAttributes(classes, names, np.asarray(rows, np.float64))
