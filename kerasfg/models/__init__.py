"""Backbones and face networks, built by name with `build_model`.

Families: ``vgg16``/``vgg19`` (+ ``_bn``, ``_cam``, ``vgg16_augmented``), ``vgg_face`` (with
`load_vgg_face_weights`), ``resnet{18,34,50,101,152}``
and ``...v2``, ``cifar_resnet{20,32,44,56,110}``, ``cifar_quick``, ``wide_resnet``, ``abn_resnet``,
``abn_cifar_resnet``, ``abn_multitask``, ``warn``, ``face_head`` (configurations A-I),
``glimpse_attention`` (where/what attention), the pain system's ``pain_cnn`` (VGG-Face on registered
frames) and ``temporal_lstm`` (an LSTM over its fc6 features), the quick start's ``face_resnet``,
and the MNIST tables' ``vanilla_cnn_a``, ``vanilla_cnn_b``, ``maxpool_cam_cnn`` and ``mnist_small_cnn``.
``summary_table(model)`` prints parameter counts per stage and attention module.
"""

from kerasfg.models import abn as _abn  # noqa: F401  (registers the builders)
from kerasfg.models import cifar_quick as _cifar_quick  # noqa: F401
from kerasfg.models import cifar_resnet as _cifar_resnet  # noqa: F401
from kerasfg.models import face_heads as _face_heads  # noqa: F401
from kerasfg.models import face_resnet as _face_resnet  # noqa: F401
from kerasfg.models import frame_cnn as _frame_cnn  # noqa: F401
from kerasfg.models import glimpse as _glimpse  # noqa: F401
from kerasfg.models import heads as _heads  # noqa: F401  (the head layers load from .keras files)
from kerasfg.models import mnist_cnns as _mnist_cnns  # noqa: F401
from kerasfg.models import resnet as _resnet  # noqa: F401
from kerasfg.models import temporal as _temporal  # noqa: F401
from kerasfg.models import vgg as _vgg  # noqa: F401
from kerasfg.models import vgg_face as _vgg_face  # noqa: F401
from kerasfg.models import warn as _warn  # noqa: F401
from kerasfg.models import wide_resnet as _wide_resnet  # noqa: F401
from kerasfg.models.abn import abn_losses
from kerasfg.models.face_heads import CONFIGURATIONS, face_head_losses
from kerasfg.models.registry import available_models, build_model, register_model
from kerasfg.models.summary import ParameterSummary, parameter_summary, summary_table
from kerasfg.models.vgg_face_weights import LoadedWeights, VGGFaceWeightsError, load_vgg_face_weights
from kerasfg.models.warn import warn_losses

__all__ = [
    "CONFIGURATIONS",
    "LoadedWeights",
    "ParameterSummary",
    "VGGFaceWeightsError",
    "abn_losses",
    "available_models",
    "build_model",
    "face_head_losses",
    "load_vgg_face_weights",
    "parameter_summary",
    "register_model",
    "summary_table",
    "warn_losses",
]
