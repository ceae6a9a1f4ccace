"""Attention layers for Keras 3: one family per module, and the ``get_attention`` factory; and the small
layers models need (``FaceNormalization``, ``MaxUnpooling2D``).

Every attention layer accepts ``return_attention=True`` to also return its float32 maps; see
``kerasfg.layers.base`` for the contract the visualization code relies on.
"""

from kerasfg.layers.attend_rectify import AttendRectify
from kerasfg.layers.attention_branch import AttentionBranch
from kerasfg.layers.augmented_conv import AugmentedConv2D
from kerasfg.layers.base import AttentionLayer
from kerasfg.layers.batch_norm import BatchNormalization
from kerasfg.layers.cbam import CBAM
from kerasfg.layers.eca import ECA, eca_kernel_size
from kerasfg.layers.face_normalization import FaceNormalization
from kerasfg.layers.factory import available_attention, get_attention
from kerasfg.layers.glimpse import GlimpseGrid, GlimpsePatches, GlimpseWeighting
from kerasfg.layers.self_attention import SelfAttention2D
from kerasfg.layers.squeeze_excite import SqueezeExcite
from kerasfg.layers.unpooling import MaxUnpooling2D

__all__ = [
    "CBAM",
    "ECA",
    "FaceNormalization",
    "AttendRectify",
    "AttentionBranch",
    "AttentionLayer",
    "AugmentedConv2D",
    "BatchNormalization",
    "GlimpseGrid",
    "GlimpsePatches",
    "GlimpseWeighting",
    "MaxUnpooling2D",
    "SelfAttention2D",
    "SqueezeExcite",
    "available_attention",
    "eca_kernel_size",
    "get_attention",
]
