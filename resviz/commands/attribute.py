"""``resviz attribute``: attribution maps of a run's checkpoint or a model, headless, to a PNG.

    resviz attribute runs/resnet20.resviz --method ig,grad_cam --images 6 --out grid.png
    resviz attribute runs/resnet20.resviz --across checkpoints --method grad_cam
    resviz attribute runs/resnet20.resviz --across models --twin        # the plain twin beside it
    resviz attribute runs/resnet20.resviz --sanity --method saliency    # randomisation test
    resviz attribute runs/resnet20.resviz --score --method grad_cam     # localisation on shapes
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResvizError
from ..limits import check_seed
from ._common import add_model_arguments, load_model_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "attribute", help="attribution maps of a run or a model, saved as a PNG",
        description="Compute Captum attribution maps for images of a data set (or image files) and save a "
                    "labelled figure: images x methods, one image across models or across the checkpoints of "
                    "a run; or run the randomisation sanity test (--sanity) or localisation scores (--score).",
        epilog="methods: saliency, input_x_gradient, integrated_gradients (ig), smoothgrad, gradient_shap, "
               "deeplift, guided_backprop, deconvolution, grad_cam, guided_grad_cam, occlusion")
    parser.add_argument("source", metavar="RUN_OR_MODEL",
                        help="a run file (.resviz), a zoo model name, or path/to/file.py:factory (needs --trust)")
    add_model_arguments(parser, positional=False)
    parser.add_argument("-m", "--method", action="append", default=[], metavar="NAMES",
                        help="attribution methods, comma-separated or repeated (default: saliency,ig,grad_cam; "
                             "the first one for --across models/checkpoints, --sanity and --score)")
    parser.add_argument("-O", "--method-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a method option, e.g. -O n_steps=32 -O window=6 (repeatable; applied to the methods "
                             "that take it)")
    parser.add_argument("--images", nargs="+", metavar="SPEC",
                        help="N (that many images, cycling through the classes), indices such as 0,5,9, or image "
                             "files (default: 6)")
    parser.add_argument("--dataset", help="data set for the images (default: the run's, else shapes)")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="data set split (default: test)")
    parser.add_argument("--data-dir", help="folder holding downloaded data sets")
    parser.add_argument("--target", metavar="CLASS",
                        help="class to explain: 'pred' (the prediction, default), 'label' (the true class), an "
                             "index or a class name")
    parser.add_argument("--checkpoint", type=int, metavar="STEP", help="the run's checkpoint (default: the latest)")
    parser.add_argument("--layer", metavar="NAME", help="Grad-CAM layer by module name (default: the last "
                                                        "layer with a spatial output)")
    parser.add_argument("--baseline", help="baseline for ig, gradient_shap, deeplift, occlusion: zeros, blur "
                                           "or a number")
    parser.add_argument("--across", choices=("methods", "models", "checkpoints"), default=None,
                        help="columns of the grid (default: methods)")
    parser.add_argument("--with", dest="others", action="append", default=[], metavar="RUN_OR_MODEL",
                        help="another run or model for --across models (repeatable)")
    parser.add_argument("--twin", action="store_true",
                        help="compare with the twin (the run's twin run, or the zoo model's plain/residual twin)")
    parser.add_argument("--checkpoints", type=int, default=6, metavar="N",
                        help="checkpoints spread over the run for --across checkpoints (default 6)")
    parser.add_argument("--sanity", action="store_true",
                        help="cascading model-parameter randomisation test: figure and rank-correlation scores")
    parser.add_argument("--granularity", choices=("blocks", "layers"), default="blocks",
                        help="randomise block by block (default) or layer by layer")
    parser.add_argument("--score", action="store_true",
                        help="localisation against the shapes masks: pointing game and energy in the mask")
    parser.add_argument("--tolerance", type=int, default=0, metavar="PIXELS",
                        help="--score: how far outside the mask the map's maximum may land and still hit (default 0)")
    parser.add_argument("--sign", choices=("positive", "negative", "absolute", "all"),
                        help="what to draw (default: each method's natural sign)")
    parser.add_argument("--clip", type=float, default=1.0, metavar="PERCENT",
                        help="outlier percentile clipped before colouring (default 1)")
    parser.add_argument("--alpha", type=float, default=0.75, help="overlay opacity at full attribution (default 0.75)")
    parser.add_argument("--heatmap", action="store_true", help="draw plain heat maps instead of overlays")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stochastic methods (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--out", metavar="PNG", help="figure to write (default: attribution.png, sanity.png or "
                                                     "localisation.png)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=run)


# ------------------------------------------------------------------------------ helpers


def _methods(args: argparse.Namespace) -> list[str]:
    from ..attribution import get_method

    names = [part.strip() for value in args.method for part in value.split(",") if part.strip()]
    if not names:
        names = ["grad_cam"] if (args.score or args.across in ("models", "checkpoints")) else (
            ["saliency"] if args.sanity else ["saliency", "integrated_gradients", "grad_cam"])
    return list(dict.fromkeys(get_method(name).name for name in names))


def _method_options(args: argparse.Namespace, method: str) -> dict[str, Any]:
    from ..attribution import get_method
    from ..models import parse_option

    info = get_method(method)
    options = {}
    given = [parse_option(text) for text in args.method_option]
    for key, value in given:
        if key in ("window", "stride") and isinstance(value, str) and "," in value:
            try:
                value = tuple(int(v) for v in value.split(","))
            except ValueError:
                raise ResvizError(f"method option {key}={value} must be a size in pixels or HEIGHT,WIDTH") from None
        if key in info.options:
            options[key] = value
    return options


def _check_method_options(args: argparse.Namespace, methods: list[str]) -> None:
    from ..attribution import get_method
    from ..models import parse_option

    for key, _ in (parse_option(text) for text in args.method_option):
        if not any(key in get_method(m).options for m in methods):
            accepted = sorted({k for m in methods for k in get_method(m).options})
            raise ResvizError(f"method option {key!r} is taken by none of {', '.join(methods)}"
                              + (f"; their options are {', '.join(accepted)}" if accepted else ""))


def _baseline(text: str | None) -> Any:
    if text is None:
        return None
    if text in ("zeros", "blur"):
        return text
    try:
        return float(text)
    except ValueError:
        raise ResvizError(f"baseline {text!r} is not zeros, blur or a number") from None


def _load_source(reference: str, args: argparse.Namespace):
    from ..attribution.sources import is_run_file, source_from_model, source_from_run

    if is_run_file(reference):
        source = source_from_run(reference, args.checkpoint, trust=args.trust)
    else:
        if args.checkpoint is not None:
            raise ResvizError("--checkpoint needs a run file (.resviz); for a model give --weights")
        loaded = load_model_from_args(args, reference)
        model = loaded.model
        model.input_shape = tuple(loaded.input_shape)
        source = source_from_model(model, loaded.spec.label())
    source.model.to(args.device)
    return source


def _twin_source(source, reference: str, args: argparse.Namespace):
    from ..attribution.sources import source_from_model, source_from_run
    from ..models import open_model, twin_pair

    if source.run_path is not None:
        if source.twin_path is None or not source.twin_path.exists():
            raise ResvizError(f"run {source.run_path} has no twin run file; train the pair with --twin, or give the "
                              f"other run with --with")
        twin = source_from_run(source.twin_path, None, trust=args.trust)
    else:
        try:
            pair = twin_pair(source.model.resviz_spec)
        except ResvizError as exc:
            raise ResvizError(f"{exc}; give the other model with --with") from None
        loaded = open_model(pair.other, dict(pair.options), input_shape=tuple(source.input_shape))
        loaded.model.input_shape = tuple(loaded.input_shape)
        twin = source_from_model(loaded.model, loaded.spec.label())
    twin.model.to(args.device)
    return twin


def _samples(source, args: argparse.Namespace, default_count: int = 6):
    from ..attribution.sources import dataset_samples, file_samples

    specs = args.images or [str(default_count)]
    if len(specs) == 1 and specs[0].isdigit():
        count = int(specs[0])
        if count < 1:
            raise ResvizError("--images N must be at least 1")
        return dataset_samples(source, args.dataset, split=args.split, count=count, data_dir=args.data_dir)
    if all(_is_index_list(spec) for spec in specs):
        indices = [int(part) for spec in specs for part in spec.split(",") if part.strip()]
        return dataset_samples(source, args.dataset, split=args.split, indices=indices, data_dir=args.data_dir)
    return file_samples(source, specs)


def _is_index_list(spec: str) -> bool:
    parts = [part.strip() for part in spec.split(",")]
    return "," in spec and all(part.isdigit() for part in parts if part) and any(parts)


def _target(args: argparse.Namespace, samples) -> Any:
    from ..attribution.sources import parse_target

    target = parse_target(args.target, samples.classes)
    if target == "label":
        if samples.labels is None:
            raise ResvizError("--target label needs images of a data set (image files have no label)")
        return [int(v) for v in samples.labels]
    if isinstance(target, int) and samples.classes and not 0 <= target < len(samples.classes):
        raise ResvizError(f"target class {target} is out of range: classes are 0 to {len(samples.classes) - 1}")
    return target


def _explained(args: argparse.Namespace, samples, who: str, predictor: str = "its own") -> str:
    """What a models/checkpoints comparison explains: the --target, else the true class, else a prediction."""
    if args.target not in (None, "pred", "predicted"):
        return f"{who} class {args.target}" if args.target not in ("label", "true") else f"{who} the true class"
    if samples.labels is not None and args.target is None:
        return f"{who} the true class"
    return f"{who} {predictor} prediction"


def _subtitle(samples, what: str) -> str:
    return f"{samples.description}: {what}" if samples.description else what


def _print(message: str) -> None:
    print(message, file=sys.stdout)


def _row_names(samples) -> list[str]:
    return list(samples.names)


# ------------------------------------------------------------------------------ modes


def run(args: argparse.Namespace) -> int:
    if args.sanity and args.score:
        raise ResvizError("--sanity and --score are separate runs; give one of them")
    if not 0 <= args.clip < 100:
        raise ResvizError(f"--clip {args.clip} must lie in [0, 100)")
    if not 0 <= args.alpha <= 1:
        raise ResvizError(f"--alpha {args.alpha} must lie between 0 and 1")
    from ..train.device import choose_device

    args.device = choose_device(args.device)  # one check and one message for every command's --device
    check_seed(args.seed, "--seed")
    methods = _methods(args)
    _check_method_options(args, methods)
    source = _load_source(args.source, args)
    if args.sanity:
        return _run_sanity(source, methods[0], args)
    if args.score:
        return _run_score(source, methods[0], args)
    across = args.across or ("models" if (args.twin or args.others) else "methods")
    if across == "models":
        return _run_models(source, methods[0], args)
    if across == "checkpoints":
        return _run_checkpoints(source, methods[0], args)
    return _run_methods(source, methods, args)


def _figure_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"overlay_mode": not args.heatmap, "clip_percentile": args.clip, "alpha": args.alpha}


def _finish(comparison, samples, source, args: argparse.Namespace, default_out: str, subtitle: str) -> int:
    from ..attribution.figures import save_comparison

    out = Path(args.out or default_out)
    save_comparison(comparison, out, subtitle=subtitle, **_figure_options(args))
    notes = list(dict.fromkeys(source.notes + samples.notes + comparison.notes))
    if args.json:
        print(json.dumps({
            "figure": str(out), "kind": comparison.kind, "title": comparison.title, "columns": comparison.column_labels,
            "rows": comparison.row_labels,
            "results": [{"method": r.method, "layer": r.layer, "seconds": round(r.seconds, 4),
                         "target": r.target.tolist(), "options": _jsonable(r.options),
                         "delta": None if r.delta is None else [float(v) for v in r.delta]}
                        for r in comparison.results],
            "notes": notes}, indent=2))
        return 0
    for label, result in zip(comparison.column_labels, comparison.results):
        extra = f", |delta| {np.abs(result.delta).mean():.3g}" if result.delta is not None else ""
        _print(f"{label}: {result.label}, {result.seconds * 1000:.0f} ms{extra}")
    for note in notes:
        _print(f"note: {note}")
    _print(f"wrote {out}")
    return 0


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}


def _run_methods(source, methods: list[str], args: argparse.Namespace) -> int:
    from ..attribution.compare import compare_methods

    samples = _samples(source, args)
    x = samples.model_input(source)
    comparison = compare_methods(
        source.model, x, methods, target=_target(args, samples), layer=args.layer, labels=samples.labels,
        class_names=samples.classes, display=list(samples.images), row_names=_row_names(samples), sign=args.sign,
        baseline=_baseline(args.baseline), seed=args.seed, title=f"Attribution maps: {source.label}",
        method_options={m: _method_options(args, m) for m in methods})
    return _finish(comparison, samples, source, args, "attribution.png",
                   _subtitle(samples, "each map explains the predicted class" if args.target is None
                             else f"target: {args.target}"))


def _run_models(source, method: str, args: argparse.Namespace) -> int:
    from ..attribution.compare import compare_models

    others = []
    if args.twin:
        others.append(_twin_source(source, args.source, args))
    for reference in args.others:
        other = _load_source(reference, argparse.Namespace(**{**vars(args), "checkpoint": None}))
        others.append(other)
    if not others:
        raise ResvizError("--across models needs another model: give --twin or --with RUN_OR_MODEL")
    samples = _samples(source, args, default_count=4)
    x = samples.model_input(source)
    models = {}
    for item in [source, *others]:
        label = item.label
        while label in models:
            label += "'"
        models[label] = item.model
    comparison = compare_models(
        models, x, method, target=_target(args, samples), layer=args.layer, labels=samples.labels,
        class_names=samples.classes, display=list(samples.images), row_names=_row_names(samples), sign=args.sign,
        baseline=_baseline(args.baseline), seed=args.seed, explain_labels=args.target is None,
        **_method_options(args, method))
    return _finish(comparison, samples, source, args, "attribution.png",
                   _subtitle(samples, _explained(args, samples, "each model explains")))


def _run_checkpoints(source, method: str, args: argparse.Namespace) -> int:
    from ..attribution.compare import compare_checkpoints
    from ..attribution.sources import run_checkpoints

    if source.run_path is None:
        raise ResvizError("--across checkpoints needs a run file (.resviz) with checkpoints")
    checkpoints = run_checkpoints(source.run_path, count=args.checkpoints)
    samples = _samples(source, args, default_count=4)
    x = samples.model_input(source)
    target = _target(args, samples)
    comparison = compare_checkpoints(
        source.model, checkpoints, x, method, target=target, layer=args.layer, labels=samples.labels,
        class_names=samples.classes, display=list(samples.images), row_names=_row_names(samples), sign=args.sign,
        baseline=_baseline(args.baseline), seed=args.seed, explain_labels=args.target is None,
        **_method_options(args, method))
    return _finish(comparison, samples, source, args, "attribution.png",
                   _subtitle(samples, _explained(args, samples, "every checkpoint explains", "the final model's")))


def _run_sanity(source, method: str, args: argparse.Namespace) -> int:
    from ..attribution.figures import save_randomisation
    from ..attribution.sanity import randomisation_test

    samples = _samples(source, args, default_count=3)
    x = samples.model_input(source)
    target = _target(args, samples)
    result = randomisation_test(source.model, x, method, target=target, layer=args.layer,
                                granularity=args.granularity, seed=args.seed, **_method_options(args, method))
    out = Path(args.out or "sanity.png")
    save_randomisation(result, list(samples.images), out, sign=args.sign or "absolute",
                       overlay_mode=False, clip_percentile=args.clip, subtitle=_subtitle(samples, source.label),
                       row_names=samples.names)
    if args.json:
        print(json.dumps({"figure": str(out), **result.to_dict()}, indent=2))
        return 0
    _print(f"cascading randomisation of {source.label} with {result.title}"
           + (f" ({result.layer})" if result.layer else "") + f", {len(samples.images)} images")
    _print(f"{'randomised down to':<22} {'spearman |map|':>15} {'spearman signed':>16}")
    means = result.mean_scores()
    for i, step in enumerate(result.steps[1:]):
        _print(f"{step:<22} {means['spearman_abs'][i]:>15.3f} {means['spearman_signed'][i]:>16.3f}")
    for note in result.notes:
        _print(f"note: {note}")
    _print(f"wrote {out}")
    return 0


def _run_score(source, method: str, args: argparse.Namespace) -> int:
    from ..attribution.figures import save_localisation
    from ..attribution.sanity import score_localisation

    samples = _samples(source, args, default_count=60)
    if samples.masks is None:
        raise ResvizError(f"--score needs ground-truth masks; the {args.dataset or source.dataset or 'shapes'} data "
                          f"set has none (use --dataset shapes)")
    x = samples.model_input(source)
    target = _target(args, samples)
    if target is None and args.target is None:
        target = [int(v) for v in samples.labels]  # score the true class: the object is what should light up
    sign = args.sign or "positive"
    report = score_localisation(source.model, x, samples.masks, method, target=target, labels=samples.labels,
                                layer=args.layer, sign=sign, tolerance=args.tolerance, seed=args.seed,
                                **_method_options(args, method))
    out = Path(args.out or "localisation.png")
    save_localisation(report, list(samples.images), out, class_names=samples.classes, clip_percentile=args.clip)
    if args.json:
        print(json.dumps({"figure": str(out), **report.to_dict()}, indent=2))
        return 0
    scores = report.scores
    _print(f"localisation of {source.label} with {report.title}" + (f" ({report.layer})" if report.layer else "")
           + f" on {scores.pointing_hits.size} shapes, explaining the true class, {sign} evidence")
    _print(f"pointing game   {scores.pointing_accuracy:6.1%}   (max of the map on the object)")
    _print(f"energy in mask  {scores.mean_energy:6.1%}   (a uniform map: {scores.mean_mask_fraction:.1%})")
    for note in report.notes:
        _print(f"note: {note}")
    _print(f"wrote {out}")
    return 0
