"""``metrics``: the seeds' confusion-matrix example — precision and recall per class, not only accuracy.

First the seed's worked example (45 cats right, 5 cats called dogs, 3 dogs called cats, 47
dogs right) is computed with resviz's own metrics, so the numbers on the slide can be
checked: precision 0.9375 / 0.904 and recall 0.9 / 0.94. Then ResNet-20 is trained on the
shapes with its recipe and its last evaluation is printed as a table of per-class precision,
recall and support beside the confusion matrix — the seed's test of a good model: accuracy
above 90 % with every class's precision and recall near it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..train.config import TrainConfig
from ..train.metrics import accuracy, precision_recall
from .base import Claim, Preset, PresetOptions, PresetResult, ProgressCallback, train_one
from .figures import new_figure, plot_confusion, save_figure

SEED_EXAMPLE = np.array([[45, 5], [3, 47]])            # rows: true cat, dog; columns: predicted
SEED_NUMBERS = {"precision": (0.9375, 0.904), "recall": (0.9, 0.94)}  # as the seed rounds them
GOOD_ACCURACY = 0.90
GOOD_PER_CLASS = 0.80
BUDGETS = {
    "full": dict(epochs=3, train_samples=3000, test_samples=600),
    "quick": dict(epochs=2, train_samples=1200, test_samples=300, model_options={"input_size": 16}),
}


def metrics_table(matrix: np.ndarray, classes: list[str]) -> list[str]:
    """``class  precision  recall  support`` lines of a confusion matrix (rows true, columns predicted)."""
    precision, recall = precision_recall(matrix)
    width = max(len(c) for c in classes)
    lines = [f"{'class':<{width}}  precision  recall  support"]
    for name, p, r, support in zip(classes, precision, recall, matrix.sum(axis=1)):
        p_text = f"{p:9.4f}" if np.isfinite(p) else f"{'-':>9}"
        r_text = f"{r:6.4f}" if np.isfinite(r) else f"{'-':>6}"
        lines.append(f"{name:<{width}}  {p_text}  {r_text}  {int(support):7d}")
    lines.append(f"{'accuracy':<{width}}  {accuracy(matrix):9.4f}")
    return lines


def run(out: Path, options: PresetOptions, on_progress: ProgressCallback | None = None) -> PresetResult:
    precision, recall = precision_recall(SEED_EXAMPLE)
    seed_ok = (np.allclose(precision, SEED_NUMBERS["precision"], atol=5e-4)
               and np.allclose(recall, SEED_NUMBERS["recall"], atol=5e-4))
    lines = ["The seeds' example (true cat/dog x predicted cat/dog = [[45, 5], [3, 47]]):"]
    lines += ["  " + line for line in metrics_table(SEED_EXAMPLE, ["cat", "dog"])]

    settings = dict(BUDGETS[options.budget])
    config = TrainConfig(model="resnet20", model_options=settings.pop("model_options", {}), seed=options.seed,
                         device=options.device, out=str(out / "metrics.resviz"), overwrite=True, **settings)
    result = train_one(config, "resnet20", on_progress)
    final = result.evals[-1]
    from ..runfile import open_run

    with open_run(result.path) as reader:
        classes = list(reader.info().classes)
    matrix = np.asarray(final.confusion)
    trained_precision, trained_recall = precision_recall(matrix)
    lines += ["", f"ResNet-20 on shapes, last evaluation (step {final.step}):"]
    lines += ["  " + line for line in metrics_table(matrix, classes)]
    worst = float(np.nanmin(np.concatenate([trained_precision, trained_recall])))
    claims = [
        Claim("the seed's precision and recall are what resviz computes from its confusion matrix", seed_ok,
              "precision " + ", ".join(f"{p:.4f}" for p in precision) + "; recall "
              + ", ".join(f"{r:.4f}" for r in recall)),
        Claim(f"ResNet-20 is good by the seed's measure: accuracy above {GOOD_ACCURACY:.0%}, every class's "
              f"precision and recall at least {GOOD_PER_CLASS:.0%}",
              final.acc > GOOD_ACCURACY and worst >= GOOD_PER_CLASS,
              f"accuracy {final.acc:.1%}, lowest per-class value {worst:.1%}"),
    ]
    figure, (axes,) = new_figure(1, width=6.0, height=5.4)
    plot_confusion(axes, matrix, classes, trained_precision, trained_recall,
                   title=f"ResNet-20 on shapes: accuracy {final.acc:.1%}")
    path = save_figure(figure, out / "metrics.png", "Confusion matrix with per-class precision and recall")
    return PresetResult("metrics", {"resnet20": result.path}, claims, path, lines)


PRESET = Preset("metrics", "The seeds' confusion-matrix example: per-class precision and recall",
                __doc__.split("\n\n", 1)[1].strip(), run)
