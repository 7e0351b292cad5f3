"""Attribution maps with Captum: one function for every method, rendering, comparisons and sanity checks.

Qt-free: everything here returns numpy arrays, so the window, the command line and scripts
draw the same results.
"""

from __future__ import annotations

from .core import AttributionCancelled, AttributionResult, attribute
from .inputs import fit_inputs, load_image_file, to_display, to_model_input
from .layers import layer_names
from .methods import METHODS, SIGNS, MethodInfo, get_method, list_methods

__all__ = [
    "METHODS", "SIGNS", "AttributionCancelled", "AttributionResult", "MethodInfo", "attribute", "fit_inputs",
    "get_method", "layer_names", "list_methods", "load_image_file", "to_display", "to_model_input",
]
