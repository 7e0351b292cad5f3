"""Attribution maps with Captum: one function for every method, rendering, comparisons and sanity checks.

Qt-free and numpy out, so the window, the command line and scripts draw the same results::

    from resviz.attribution import attribute, render
    result = attribute(model, images, method="ig", n_steps=32, progress=print, cancel=event)
    picture = render(result.maps[0], display_image, sign="all")      # (H, W, 3) uint8

- ``attribute`` / ``AttributionResult`` / ``METHODS`` / ``list_methods``: the methods
  (``resviz.attribution.methods``), run on a prepared copy of the model (``prepare``).
- ``render``, ``normalize``, ``colorize``, ``overlay``, ``COLORMAPS``: drawing (``render``).
- ``compare_methods``, ``compare_models``, ``compare_checkpoints``: comparisons (``compare``);
  ``resviz.attribution.figures`` saves them, and the sanity checks, as PNG.
- ``randomisation_test``, ``localisation_scores``, ``score_localisation``: sanity checks (``sanity``).
- ``resviz.attribution.sources``: models from run files and images from data sets or files.
"""

from __future__ import annotations

from ..colours import COLORMAPS, get_colormap, list_colormaps
from .compare import AttributionComparison, Panel, compare_checkpoints, compare_methods, compare_models
from .core import AttributionCancelled, AttributionResult, attribute, predict
from .inputs import fit_inputs, load_image_file, to_display, to_model_input
from .layer_choice import grad_cam_layers, layer_names, validate_layer
from .methods import METHODS, MethodInfo, get_method, list_methods
from .render import SIGNS, colorize, normalize, overlay, render
from .sanity import LocalisationScores, RandomisationResult, localisation_scores, randomisation_test, score_localisation

__all__ = [
    "COLORMAPS", "METHODS", "SIGNS", "AttributionCancelled", "AttributionComparison", "AttributionResult",
    "LocalisationScores", "MethodInfo", "Panel", "RandomisationResult", "attribute", "colorize", "compare_checkpoints", "compare_methods",
    "compare_models", "fit_inputs", "get_colormap", "get_method", "grad_cam_layers", "layer_names",
    "list_colormaps", "list_methods", "load_image_file", "localisation_scores", "normalize", "overlay", "predict",
    "randomisation_test", "render", "score_localisation", "to_display", "to_model_input", "validate_layer",
]
