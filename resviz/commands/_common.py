"""Arguments shared by the subcommands that take a model."""

from __future__ import annotations

import argparse

from ..models import LoadedModel, file_sha256, is_user_reference, open_model, parse_input_shape, parse_option
from ..models.user import split_reference


def add_model_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        parser.add_argument("model", metavar="MODEL",
                            help="a zoo name (see 'resviz models'), path/to/file.py:factory (needs --trust), "
                                 "model.onnx, or model.pt2 (a torch.export program; needs --trust)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. -o depth=56 -o norm=none (repeatable)")
    parser.add_argument("--trust", action="store_true",
                        help="allow running the code of a user's model file (as it is when the command starts)")
    parser.add_argument("--weights", metavar="PATH",
                        help="weights to load: .safetensors or a state dict (read with weights_only=True)")
    parser.add_argument("--input-shape", metavar="C,H,W", help="input shape, for models that do not declare one")


def model_options(args: argparse.Namespace) -> dict:
    return dict(parse_option(text) for text in args.option)


def load_model_from_args(args: argparse.Namespace, reference: str | None = None) -> LoadedModel:
    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    return open_model(reference or args.model, model_options(args), trust=args.trust, weights=args.weights,
                      input_shape=shape)


def trusted_sha256(args: argparse.Namespace, reference: str | None = None) -> str | None:
    """The digest of the user's model file as ``--trust`` found it when the command started: a
    file replaced before the model is built (after a long data load, say) is then refused."""
    reference = reference or args.model
    if not args.trust or not is_user_reference(reference):
        return None
    path, _ = split_reference(reference)
    try:
        return file_sha256(path)
    except OSError:
        return None  # loading the model says what is wrong with the path
