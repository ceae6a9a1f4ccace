"""Keras callbacks that record what a network does while it trains, for TensorBoard."""

from kerasfg.callbacks.attention_maps import AttentionMaps
from kerasfg.callbacks.base import RecordingCallback, TensorBoardRecorder
from kerasfg.callbacks.explanations import GradCAM, Saliency
from kerasfg.callbacks.progress import TrainingProgress

__all__ = ["AttentionMaps", "GradCAM", "RecordingCallback", "Saliency", "TensorBoardRecorder", "TrainingProgress"]
