"""Label spaces shared by every face data source, so that one model trains and tests across them.

TensorFlow-free: the synthetic faces and the readers describe their tasks with :class:`Task` without loading it.
"""

import dataclasses

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
"""The 7-class expression label space of FER2013, CK+, JAFFE, IMFDB and the synthetic faces (alphabetical,
as the FER/CK+/JAFFE paper's code orders its class folders)."""

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
"""CelebA's 40 binary attributes, in the column order of ``list_attr_celeba.txt``."""


@dataclasses.dataclass(frozen=True)
class Task:
    """One label of a dataset.

    Attributes:
        name: the key in the labels dict (``"expression"``, ``"identity"``, ``"age"``, ``"attributes"``).
        kind: ``"class"`` (one int in ``[0, num_classes)``), ``"multilabel"`` (a 0/1 vector, one entry per
            class name, e.g. CelebA's 40 attributes) or ``"regression"`` (an int value such as age in years).
        class_names: the names of the classes (entries for ``multilabel``), ``None`` for regression.
    """

    name: str
    kind: str = "class"
    class_names: tuple = None

    @property
    def num_classes(self):
        return None if self.class_names is None else len(self.class_names)
