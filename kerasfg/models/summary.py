"""Parameter counts of a model, per stage and per attention module, as the papers' tables quote them.

    >>> print(kerasfg.models.summary_table(model))
    resnet50: 25,636,712 parameters (25,583,592 trainable, 53,120 non-trainable)
    group        parameters   trainable
    -----------  -----------  ----------
    stem              9,536       9,408
    stage1          218,624     215,808
    ...

Groups are the layer-name prefixes the builders use (``stem``, ``stage3``, ``block5``,
``attention_stage4``...); every other layer with weights is its own row. Attention modules are the
layers that subclass `kerasfg.layers.AttentionLayer`.
"""

import dataclasses
import re

from kerasfg.layers import AttentionLayer

_GROUP = re.compile(r"^((?:attention_)?(?:stage|block)\d+|stem|augmented)(?:_|$)")


def _count(weights):
    total = 0
    for w in weights:
        n = 1
        for d in w.shape:
            n *= int(d)
        total += n
    return total


@dataclasses.dataclass
class ParameterSummary:
    """Parameter counts of a model.

    Attributes:
        name: the model's name.
        total, trainable, non_trainable: counts over the whole model.
        groups: ``{group: (parameters, trainable)}`` in layer order (stages, then single layers).
        attention: ``{layer name: (class name, parameters)}`` of the attention modules.
    """

    name: str
    total: int
    trainable: int
    non_trainable: int
    groups: dict
    attention: dict

    @property
    def attention_total(self):
        """Parameters in all attention modules together."""
        return sum(count for _, count in self.attention.values())

    def __str__(self):
        lines = [f"{self.name}: {self.total:,} parameters ({self.trainable:,} trainable, "
                 f"{self.non_trainable:,} non-trainable)"]
        rows = [(group, f"{total:,}", f"{trainable:,}")
                for group, (total, trainable) in self.groups.items()]
        lines += _table(("group", "parameters", "trainable"), rows)
        if self.attention:
            lines.append(f"attention modules: {len(self.attention)}, "
                         f"{self.attention_total:,} parameters")
            lines += _table(("attention module", "class", "parameters"),
                            [(n, cls, f"{count:,}") for n, (cls, count) in self.attention.items()])
        return "\n".join(lines)


def _table(headers, rows):
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def parameter_summary(model):
    """The `ParameterSummary` of a built model."""
    groups, attention = {}, {}
    for layer in model.layers:
        if not layer.weights:
            continue
        match = _GROUP.match(layer.name)
        group = match.group(1) if match else layer.name
        total, trainable = groups.get(group, (0, 0))
        groups[group] = (total + _count(layer.weights), trainable + _count(layer.trainable_weights))
        if isinstance(layer, AttentionLayer):
            attention[layer.name] = (type(layer).__name__, _count(layer.weights))
    total = _count(model.weights)
    trainable = _count(model.trainable_weights)
    return ParameterSummary(model.name, total, trainable, total - trainable, groups, attention)


def summary_table(model):
    """A plain-text table of ``model``'s parameter counts: total, trainable, per stage and per
    attention module (see the module docstring)."""
    return str(parameter_summary(model))
