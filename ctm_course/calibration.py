"""Is a model's confidence worth its word? Reliability bins and the expected calibration error.

A classifier is *calibrated* when, among the answers it gives with confidence about p, a fraction
p is right. Split the answers into equal-width confidence bins B_1 .. B_K; then

    ECE = sum_k |B_k| / N * | acc(B_k) - conf(B_k) |

with acc the fraction right and conf the mean confidence in the bin (Guo et al., 2017). The CTM
report plots the same reliability diagram for its MNIST and ImageNet models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Reliability:
    """Per-bin statistics of a reliability diagram (K bins).

    Attributes:
        edges: (K + 1,) bin edges in [0, 1].
        confidence: (K,) mean confidence of the answers in each bin (NaN where empty).
        accuracy: (K,) fraction of them that are right (NaN where empty).
        counts: (K,) number of answers in each bin.
        ece: the expected calibration error.
    """

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    counts: torch.Tensor
    ece: float


def reliability(
    confidence: torch.Tensor, correct: torch.Tensor, bins: int = 10
) -> Reliability:
    """Bin answers by confidence: (N,) confidences in [0, 1], (N,) bool right/wrong.

    The last bin includes 1.0; every other bin is ``[lo, hi)``.

    Raises:
        ValueError: shapes differ, ``bins < 1``, no answers, or a confidence outside [0, 1].
    """
    confidence, correct = confidence.detach().double().cpu(), correct.detach().cpu()
    if confidence.shape != correct.shape or confidence.dim() != 1 or bins < 1:
        raise ValueError(
            f"need (N,) confidence and (N,) correct and bins >= 1, got "
            f"{tuple(confidence.shape)}, {tuple(correct.shape)}, bins={bins}"
        )
    if len(confidence) == 0:
        raise ValueError("no answers to bin")
    if bool((confidence < 0).any()) or bool((confidence > 1).any()):
        raise ValueError("confidences must lie in [0, 1]")
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    index = (confidence * bins).long().clamp(max=bins - 1)  # (N,) bin of each answer
    counts = torch.bincount(index, minlength=bins)
    total_conf = torch.bincount(index, weights=confidence, minlength=bins)
    total_right = torch.bincount(index, weights=correct.double(), minlength=bins)
    filled = counts > 0
    nan = torch.full((bins,), float("nan"), dtype=torch.float64)
    conf = torch.where(filled, total_conf / counts.clamp(min=1), nan)
    acc = torch.where(filled, total_right / counts.clamp(min=1), nan)
    gaps = (total_right - total_conf).abs()  # |B_k| * |acc - conf|
    return Reliability(edges, conf, acc, counts, float(gaps.sum() / len(confidence)))


def expected_calibration_error(
    confidence: torch.Tensor, correct: torch.Tensor, bins: int = 10
) -> float:
    """ECE of (N,) confidences and (N,) right/wrong answers with ``bins`` equal-width bins."""
    return reliability(confidence, correct, bins).ece
