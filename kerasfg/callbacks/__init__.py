"""Keras callbacks that record what a network does while it trains, for TensorBoard."""

from kerasfg.callbacks.activations import LayerActivations
from kerasfg.callbacks.attention_maps import AttentionMaps
from kerasfg.callbacks.base import RecordingCallback, TensorBoardRecorder
from kerasfg.callbacks.confusion_matrix import ConfusionMatrix
from kerasfg.callbacks.context import RecordingContext
from kerasfg.callbacks.deconvolution import Deconvolution
from kerasfg.callbacks.deep_visualization import DeepVisualization
from kerasfg.callbacks.embeddings import Embeddings
from kerasfg.callbacks.explanations import GradCAM, Saliency
from kerasfg.callbacks.faithfulness import Faithfulness
from kerasfg.callbacks.progress import TrainingProgress
from kerasfg.callbacks.sanity_checks import SanityChecks

__all__ = [
    "AttentionMaps",
    "ConfusionMatrix",
    "Deconvolution",
    "DeepVisualization",
    "Embeddings",
    "Faithfulness",
    "GradCAM",
    "LayerActivations",
    "RecordingCallback",
    "RecordingContext",
    "Saliency",
    "SanityChecks",
    "TensorBoardRecorder",
    "TrainingProgress",
]
