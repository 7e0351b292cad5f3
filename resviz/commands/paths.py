"""``resviz paths RUN_OR_MODEL --samples N``: the paths gradients take through a residual network
(Veit et al. 2016, Fig. 6): paths by length, gradient magnitude per path and the share of the
gradient each length carries. A run file's latest checkpoint (result stored in the run file), or a
model at initialisation."""

from __future__ import annotations

import argparse
import sys

from ..errors import ResvizError
from ..limits import check_seed
from ._common import add_model_arguments, load_model_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "paths", help="the paths gradients take through a residual network: share of the gradient by path length",
        description="Unroll a residual network into the paths through its blocks' branches or shortcuts and "
                    "measure the input gradient each path carries, by path length (Veit et al. 2016). A run "
                    "file: its checkpoint on its own test data, the result stored in the run file. A model: at "
                    "initialisation, on Gaussian inputs.")
    parser.add_argument("model", metavar="RUN_OR_MODEL",
                        help="a run file (.resviz), a zoo name (see 'resviz models') or path/to/file.py:factory "
                             "(needs --trust)")
    add_model_arguments(parser, positional=False)
    parser.add_argument("--samples", type=int, default=16,
                        help="paths measured per path length (all of them where there are fewer; default 16)")
    parser.add_argument("--batch", type=int, default=16, help="inputs the gradients are taken on (default 16)")
    parser.add_argument("--step", type=int, help="the run's checkpoint (default: the latest)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the paths drawn, the inputs and labels")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cuda, mps or cpu")
    parser.add_argument("--out", metavar="FIG.png", help="write the figure (PNG)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..attribution.sources import dataset_samples, is_run_file, source_from_run
    from ..lenses.lens_figures import draw_paths
    from ..lenses.paths import gate_paths, path_decomposition, paths_lens_result
    from ..lenses.signal import freeze_batch_statistics
    from ..train.device import choose_device, device_label

    if args.samples < 1:
        raise ResvizError(f"--samples {args.samples} must be at least 1")
    if args.batch < 1:
        raise ResvizError(f"--batch {args.batch} must be at least 1")
    seed = check_seed(args.seed, "--seed")
    device = choose_device(args.device)
    run_file = is_run_file(args.model)
    targets = None
    if run_file:
        source = source_from_run(args.model, args.step, trust=args.trust)
        model, label = source.model, source.label
        samples = dataset_samples(source, count=args.batch)
        inputs = samples.model_input(source)
        targets = torch.as_tensor(samples.labels, dtype=torch.long) if samples.labels is not None else None
    else:
        if args.step is not None:
            raise ResvizError("--step: only a run file has checkpoints; a model is measured at initialisation")
        loaded = load_model_from_args(args)
        model, label = loaded.model, f"{loaded.spec.label()} at initialisation"
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.randn((args.batch, *loaded.input_shape), generator=generator)
    gated = gate_paths(model, inputs[:1])
    gated.module.to(device)
    inputs = inputs.to(device)
    if run_file:
        gated.module.eval()  # the checkpoint's own statistics
    else:
        freeze_batch_statistics(gated.module, inputs)  # at initialisation: the batch's statistics
    print(f"paths of {label}: {len(gated.gates)} residual blocks, {args.samples} paths per length, "
          f"on {device_label(device)}", file=sys.stderr, flush=True)
    decomposition = path_decomposition(gated, inputs, samples=args.samples, seed=seed, targets=targets)
    n = decomposition.n
    short = float(decomposition.share[: (n + 1) // 2].sum())
    print(f"{label}: peak at path length {decomposition.peak_length} of {n}, mean length "
          f"{decomposition.mean_length:.2f}; paths shorter than n/2 carry {short:.0%} of the gradient "
          f"({decomposition.seconds:.1f} s)")
    if run_file:
        from ..runfile import store_lens_result

        params = {"model": label, "step": source.step, "device": str(device)}
        store_lens_result(args.model, paths_lens_result(decomposition, params))
        print(f"stored in {args.model}", file=sys.stderr)
    if args.out:
        written = draw_paths(decomposition, args.out, f"The paths gradients take: {label}")
        print(f"wrote {written}", file=sys.stderr)
    return 0
