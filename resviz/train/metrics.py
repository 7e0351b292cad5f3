"""Classification metrics of an evaluation: confusion matrix, accuracy, per-class precision and recall.

Rows of the confusion matrix are the true classes, columns the predicted ones. For class k:
precision = TP / (TP + FP) = C[k, k] / column sum, recall = TP / (TP + FN) = C[k, k] / row sum;
NaN where the class was never predicted (precision) or never present (recall).
"""

from __future__ import annotations

import numpy as np
import torch


def confusion_counts(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A (K, K) int64 confusion matrix on the labels' device (accumulate over batches, read once)."""
    flat = labels.to(torch.int64) * num_classes + predictions.to(torch.int64)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positive / np.where(predicted > 0, predicted, 1), np.nan)
        recall = np.where(actual > 0, true_positive / np.where(actual > 0, actual, 1), np.nan)
    return precision, recall


def accuracy(confusion: np.ndarray) -> float:
    confusion = np.asarray(confusion)
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")
