"""``overfitting``: the seeds' CIFAR-10 experiment — a simple CNN against a small ResNet, no augmentation.

The seed's simple CNN (two conv-conv-pool stages, a dense layer of 128 on the flattened
features) memorises its training set: training accuracy climbs while validation accuracy
stalls, and the gap between them — the generalisation gap — grows. The seed's small ResNet
(BatchNorm, residual blocks, global average pooling) is trained under the same rules: no
augmentation, at most 30 epochs. Both are trained on CIFAR-10 when its files are in the data
folder, on the shapes otherwise, and the figure shows train against validation loss and
accuracy for each. ``--quick`` trains on ten images a class, which both nets memorise: it
checks the simple CNN's gap only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ResvizError
from ..runfile import open_run
from ..train.config import TrainConfig
from .base import Claim, Preset, PresetOptions, PresetResult, ProgressCallback, epoch_means, train_one
from .figures import new_figure, plot_curves, save_figure

MAX_EPOCHS = 30  # the seed's rule; every budget below keeps to it (tests/presets checks)
MODELS = (("simple_cnn", "simple CNN", "plain"), ("cifar_small_resnet", "small ResNet", "residual"))
BUDGETS = {
    "full": {"cifar10": dict(epochs=15, train_samples=10000, test_samples=2000),
             "shapes": dict(epochs=15, train_samples=600, test_samples=600)},
    # Quick: a training set small enough to memorise (ten images a class), so the simple CNN's gap
    # shows in seconds. Both nets memorise it, so which generalises better is left to the full budget.
    "quick": {"cifar10": dict(epochs=30, train_samples=100, test_samples=500, batch_size=20),
              "shapes": dict(epochs=30, train_samples=60, test_samples=300, batch_size=20,
                             model_options={"input_size": 16, "width": 16})},
}


def cifar10_present(options: PresetOptions) -> bool:
    """Whether CIFAR-10 can be read (or downloaded, when asked) without training on something else."""
    from ..data import load_dataset

    try:
        load_dataset("cifar10", split="test", data_dir=options.data_dir, download=options.download, n=1)
    except ResvizError:
        return False
    return True


def curves(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-epoch train loss/accuracy (means over the epoch's batches) and validation loss/accuracy."""
    with open_run(path) as reader:
        steps = reader.read_steps()
        evals = reader.evals("test")
    epochs, train_loss = epoch_means(steps.loss.astype(np.float64), steps.epoch)
    _, train_acc = epoch_means(steps.acc.astype(np.float64), steps.epoch)
    numbers = epochs + 1
    eval_epochs = np.array([e.epoch + 1 for e in evals])
    return {"train loss": (numbers, train_loss), "train acc": (numbers, train_acc),
            "val loss": (eval_epochs, np.array([e.loss for e in evals])),
            "val acc": (eval_epochs, np.array([e.acc for e in evals]))}


def run(out: Path, options: PresetOptions, on_progress: ProgressCallback | None = None) -> PresetResult:
    dataset = "cifar10" if cifar10_present(options) else "shapes"
    settings = dict(BUDGETS[options.budget][dataset])
    model_options = settings.pop("model_options", {})
    runs, series = {}, {}
    for model, _, _ in MODELS:
        config = TrainConfig(model=model, model_options=dict(model_options), dataset=dataset,
                             data_dir=options.data_dir, download=options.download, augment=False, seed=options.seed,
                             device=options.device, out=str(out / f"overfitting-{model}.resviz"), overwrite=True,
                             **settings)
        runs[model] = train_one(config, model, on_progress).path
        series[model] = curves(runs[model])
    summary = {}
    for model, _, _ in MODELS:
        s = series[model]
        train_acc, val_acc = float(s["train acc"][1][-1]), float(s["val acc"][1][-1])
        summary[model] = (train_acc, val_acc, train_acc - val_acc, float(np.max(s["val acc"][1])))
    cnn, resnet = summary["simple_cnn"], summary["cifar_small_resnet"]
    claims = [
        Claim("the simple CNN overfits: its training accuracy ends above its validation accuracy", cnn[2] > 0,
              f"train {cnn[0]:.1%}, validation {cnn[1]:.1%}, gap {cnn[2]:+.1%}"),
    ]
    if options.budget == "full":  # on the quick budget's ten images a class both nets memorise
        claims.append(Claim("the small ResNet generalises better: a higher best validation accuracy than the "
                            "simple CNN", resnet[3] > cnn[3], f"{resnet[3]:.1%} vs {cnn[3]:.1%}"))
    figure, (loss_axes, acc_axes) = new_figure(2)
    loss_curves, acc_curves, styles = [], [], []
    for model, label, role in MODELS:
        s = series[model]
        loss_curves += [(f"{label} train", *s["train loss"], role), (f"{label} validation", *s["val loss"], role)]
        acc_curves += [(f"{label} train", *s["train acc"], role), (f"{label} validation", *s["val acc"], role)]
        styles += ["-", "--"]
    plot_curves(loss_axes, loss_curves, title="Loss", xlabel="epoch", ylabel="cross-entropy", styles=styles)
    plot_curves(acc_axes, acc_curves, title="Accuracy", xlabel="epoch", ylabel="accuracy", percent=True,
                styles=styles)
    path = save_figure(figure, out / "overfitting.png",
                       f"Overfitting on {'CIFAR-10' if dataset == 'cifar10' else 'shapes'}: simple CNN vs small ResNet")
    lines = [f"data set: {dataset}{'' if dataset == 'cifar10' else ' (CIFAR-10 not found in the data folder)'}"]
    for model, label, _ in MODELS:
        train_acc, val_acc, gap, best = summary[model]
        lines.append(f"{label:<13} train accuracy {train_acc:.1%}, validation {val_acc:.1%} (best {best:.1%}), "
                     f"generalisation gap {gap:+.1%}")
    return PresetResult("overfitting", runs, claims, path, lines)


PRESET = Preset("overfitting", "The seeds' CIFAR-10 experiment: simple CNN vs small ResNet, train vs validation",
                __doc__.split("\n\n", 1)[1].strip(), run)
