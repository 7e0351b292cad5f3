"""``resviz bench attribution``: what ``attribute`` costs over calling Captum directly, and how
fast the interactive methods are on ResNet-20.

- overhead: ``attribute(...)`` against the same Captum call on the same eval-mode model, run back
  to back in pairs in one process; the median of the pair ratios (target: at most 1.05);
- Grad-CAM on ResNet-20 at 32x32, one image, the predicted class (target: well under a second);
- Integrated Gradients with 50 steps, batched, one image and a batch (target: a few seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

HELP = "attribution: wrapper overhead vs Captum directly, Grad-CAM and Integrated Gradients times"

OVERHEAD_TARGET = 1.05
GRAD_CAM_TARGET_S = 1.0
IG_TARGET_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnet20", help="zoo model (default resnet20)")
    parser.add_argument("--size", type=int, default=32, help="input size (default 32)")
    parser.add_argument("--batch", type=int, default=8, help="images per overhead measurement (default 8)")
    parser.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps (default 50)")
    parser.add_argument("--repeats", type=int, default=60, help="timed pairs per case (default 60; a third of "
                                                              "that for Integrated Gradients)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="model option, e.g. -o width=8 (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")


def _median_time(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _interleaved(direct: Callable[[], Any], wrapped: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Both measured back to back in pairs, alternating which goes first. The ratio is the median
    of the per-pair ratios: a burst of load from other processes hits both runs of a pair alike and
    only moves a few pairs, so it neither inflates nor hides the overhead."""
    direct()
    wrapped()  # warm-up: the prepared copy is made and cached here
    direct_times, wrapped_times, ratios = [], [], []
    for i in range(repeats):
        times = {}
        for function in ((direct, wrapped) if i % 2 == 0 else (wrapped, direct)):
            started = time.perf_counter()
            function()
            times[function] = time.perf_counter() - started
        direct_times.append(times[direct])
        wrapped_times.append(times[wrapped])
        ratios.append(times[wrapped] / times[direct])
    return {"captum_s": statistics.median(direct_times), "resviz_s": statistics.median(wrapped_times),
            "ratio": statistics.median(ratios), "best_ratio": min(wrapped_times) / min(direct_times),
            "repeats": repeats}


def measure(model_name: str = "resnet20", *, size: int = 32, batch: int = 8, steps: int = 50, repeats: int = 60,
            device: str = "cpu", options: dict[str, Any] | None = None, threads: int | None = None) -> dict[str, Any]:
    import warnings

    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    with warnings.catch_warnings():
        # Captum's notices on the direct calls ("Input Tensor 0 did not already require gradients").
        warnings.filterwarnings("ignore", module=r"captum\.")
        return _measure(model_name, size=size, batch=batch, steps=steps, repeats=repeats, device=device,
                        options=options)


def _measure(model_name: str, *, size: int, batch: int, steps: int, repeats: int, device: str,
             options: dict[str, Any] | None) -> dict[str, Any]:
    import torch
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    from ..attribution import attribute
    from ..models import get_model

    torch.manual_seed(0)
    model = get_model(model_name, input_size=size, **(options or {})).to(device).eval()
    x = torch.randn(batch, *model.input_shape, device=device)
    with torch.no_grad():
        target = model(x).argmax(1)
    layer_name = "layer3" if hasattr(model, "layer3") else None
    overhead = {}

    def saliency_direct():
        return Saliency(model).attribute(x, target=target, abs=True).detach().cpu().numpy()

    def saliency_wrapped():
        return attribute(model, x, target, "saliency")

    overhead["saliency"] = _interleaved(saliency_direct, saliency_wrapped, repeats)

    if layer_name:
        layer = model.get_submodule(layer_name)

        def grad_cam_direct():
            cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
            return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear").detach().cpu().numpy()

        def grad_cam_wrapped():
            return attribute(model, x, target, "grad_cam", layer=layer_name)

        overhead["grad_cam"] = _interleaved(grad_cam_direct, grad_cam_wrapped, repeats)

    ig_batch = batch * steps

    def ig_direct():
        attributions, delta = IntegratedGradients(model).attribute(
            x, target=target, n_steps=steps, internal_batch_size=ig_batch, return_convergence_delta=True)
        return attributions.detach().cpu().numpy(), delta.detach().cpu().numpy()

    def ig_wrapped():
        return attribute(model, x, target, "integrated_gradients", n_steps=steps, internal_batch_size=ig_batch)

    overhead["integrated_gradients"] = _interleaved(ig_direct, ig_wrapped, max(3, repeats // 3))

    one = x[:1]
    interactive = {}
    if layer_name:
        attribute(model, one, method="grad_cam")
        interactive["grad_cam_one_image_s"] = _median_time(lambda: attribute(model, one, method="grad_cam"), repeats)
    attribute(model, one, method="ig", n_steps=steps, internal_batch_size=steps)
    interactive["ig_one_image_s"] = _median_time(
        lambda: attribute(model, one, method="ig", n_steps=steps, internal_batch_size=steps), max(3, repeats // 3))
    interactive["ig_batch_s"] = _median_time(
        lambda: attribute(model, x, target, "ig", n_steps=steps, internal_batch_size=ig_batch), max(3, repeats // 3))
    return {
        "model": model_name, "input": list(model.input_shape), "batch": batch, "ig_steps": steps,
        "device": str(device), "threads": torch.get_num_threads(),
        "overhead": overhead,
        **interactive,
    }


def run(args: argparse.Namespace) -> int:
    from ..models import parse_option

    options = dict(parse_option(text) for text in args.option)
    result = measure(args.model, size=args.size, batch=args.batch, steps=args.steps, repeats=args.repeats,
                     device=args.device, options=options, threads=args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"attribution on {result['model']} {'x'.join(map(str, result['input']))}, {result['device']}, "
          f"{result['threads']} threads, batch {result['batch']}")
    print(f"{'median of pairs':<22} {'captum':>10} {'resviz':>10} {'ratio':>7} {'(best)':>7}  "
          f"target <= {OVERHEAD_TARGET}")
    for name, row in result["overhead"].items():
        verdict = "ok" if row["ratio"] <= OVERHEAD_TARGET else "over"
        print(f"{name:<22} {row['captum_s'] * 1000:>8.1f}ms {row['resviz_s'] * 1000:>8.1f}ms {row['ratio']:>7.3f} "
              f"{row['best_ratio']:>7.3f}  {verdict} ({row['repeats']} pairs)")
    if "grad_cam_one_image_s" in result:
        seconds = result["grad_cam_one_image_s"]
        print(f"Grad-CAM, one image, predicted class: {seconds * 1000:.1f} ms "
              f"({'ok' if seconds < GRAD_CAM_TARGET_S else 'over'}: target < {GRAD_CAM_TARGET_S:.0f} s)")
    print(f"Integrated Gradients, {result['ig_steps']} steps batched: one image {result['ig_one_image_s']:.2f} s, "
          f"{result['batch']} images {result['ig_batch_s']:.2f} s "
          f"({'ok' if result['ig_one_image_s'] < IG_TARGET_S else 'over'}: target a few seconds)")
    return 0
