"""The model zoo: residual networks and their plain twins, plus users' own models."""

from .pairs import TwinPair, find_twin_pair, twin_pair
from .reference import is_user_reference
from .registry import (
                       ModelInfo,
                       count_parameters,
                       get_model,
                       list_models,
                       model_device,
                       model_entry,
                       model_info,
                       resolve_options,
                       weighted_depth,
)
from .resolve import LoadedModel, open_model, parse_input_shape, parse_option, rebuild_model
from .spec import ModelSpec
from .user import file_sha256, load_user_model
from .weights import WeightReport, load_weights, read_state_dict, save_weights

__all__ = [
    "LoadedModel", "ModelInfo", "ModelSpec", "TwinPair", "WeightReport", "count_parameters", "file_sha256",
    "find_twin_pair", "get_model", "is_user_reference", "list_models", "load_user_model", "model_device",
    "load_weights", "model_entry", "model_info", "open_model", "parse_input_shape", "parse_option", "read_state_dict",
    "rebuild_model", "resolve_options", "save_weights", "twin_pair", "weighted_depth",
]
