"""The training view's figures: each a pyqtgraph scene built once and updated in place."""

from .base import Figure, FigureFrame
from .confusion import ConfusionFigure
from .curves import LossAccuracyFigure
from .heatmap import GradientFlowFigure
from .profiles import BlockGradientFigure, DepthProfileFigure, UpdateRatioFigure

__all__ = ["BlockGradientFigure", "ConfusionFigure", "DepthProfileFigure", "Figure", "FigureFrame",
           "GradientFlowFigure", "LossAccuracyFigure", "UpdateRatioFigure"]
