"""Anomaly scores per time step, the metrics that judge them, and the baselines.

Every detector produces one score per time step (higher = more anomalous); the metrics compare it
with the 0/1 labels without choosing a threshold first (ROC-AUC, PR-AUC) or with the best threshold
in hindsight (best F1; an optimistic number, reported as such). All functions take NumPy arrays.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..parameters import count_parameters


# --------------------------------------------------------------------------------------------- scores
def scores_from_window_errors(
    errors: np.ndarray, starts: np.ndarray, length: int
) -> np.ndarray:
    """Average the per-step errors of overlapping windows: ``(N, W)`` errors at ``starts`` -> ``(length,)``.

    Every time step gets the mean error of all windows that contain it.
    """
    errors = np.asarray(errors, dtype=np.float64)
    total, count = np.zeros(length), np.zeros(length)
    W = errors.shape[1]
    for start, e in zip(starts, errors):
        total[start : start + W] += e
        count[start : start + W] += 1
    if (count == 0).any():
        raise ValueError(
            "some time steps are in no window; use window_starts(), which covers the whole series"
        )
    return total / count


def _segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the runs of 1s in ``labels`` (``end`` exclusive)."""
    padded = np.concatenate(([0], np.asarray(labels, dtype=np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


# --------------------------------------------------------------------------------------------- metrics
def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = (
        np.asarray(scores, dtype=np.float64),
        np.asarray(labels).astype(bool),
    )
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(
            f"scores and labels must be 1-D of the same length, got {scores.shape} and {labels.shape}"
        )
    if labels.all() or not labels.any():
        raise ValueError("labels must contain both normal (0) and anomalous (1) steps")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    return scores, labels


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random anomalous step scores higher than a
    random normal one (ties count one half). 0.5 is chance, 1 is a perfect ranking."""
    scores, labels = _check(scores, labels)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties (Mann-Whitney U)
    starts = np.flatnonzero(
        np.concatenate(([True], sorted_scores[1:] != sorted_scores[:-1]))
    )
    ends = np.append(starts[1:], len(scores))
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_recall(
    scores: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and threshold for every distinct score used as threshold (``score >= t``),
    from the highest threshold to the lowest."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    # last index of each distinct score
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    tp = np.cumsum(y)[last]
    predicted = last + 1
    return tp / predicted, tp / labels.sum(), s[last]


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: sum of precision x recall gained.

    Chance level is the fraction of anomalous steps, not 0.5, which is why PR-AUC is the harder number.
    """
    precision, recall, _ = precision_recall(scores, labels)
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(F1, threshold)`` at the threshold with the highest F1 on these labels.

    Choosing the threshold on the test labels is optimistic: a deployed detector must fix it in advance.
    """
    precision, recall, thresholds = precision_recall(scores, labels)
    f1 = np.where(
        precision + recall > 0,
        2 * precision * recall / np.maximum(precision + recall, 1e-12),
        0.0,
    )
    i = int(np.argmax(f1))
    return float(f1[i]), float(thresholds[i])


def point_adjust(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Point adjustment: if any step of a true anomalous segment is flagged, flag the whole segment.

    Widely used in the time-series anomaly literature (Xu et al., 2018), and widely criticised (Kim et
    al., AAAI 2022): a 100-step anomaly touched by one lucky flag counts as 100 true positives, so even
    random scores reach a high F1 when anomalies are long. Report it only next to the unadjusted F1.
    """
    adjusted = np.asarray(predictions).astype(bool).copy()
    for start, end in _segments(labels):
        if adjusted[start:end].any():
            adjusted[start:end] = True
    return adjusted


def point_adjusted_f1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Best F1 after :func:`point_adjust`, over all thresholds.

    Why it flatters: at a threshold ``t`` a segment counts as fully detected as soon as its *highest*
    score reaches ``t``. That is the same as replacing every score inside a segment by the segment's
    maximum, which is how it is computed here; a detector gets credit for steps it never flagged.
    """
    scores, labels = _check(scores, labels)
    adjusted = scores.copy()
    for start, end in _segments(labels):
        adjusted[start:end] = scores[start:end].max()
    return best_f1(adjusted, labels)[0]


def evaluate_scores(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """All four numbers of the comparison table for one detector."""
    return {
        "roc_auc": roc_auc(scores, labels),
        "pr_auc": pr_auc(scores, labels),
        "best_f1": best_f1(scores, labels)[0],
        "pa_f1": point_adjusted_f1(scores, labels),
    }


def per_kind_roc_auc(
    scores: np.ndarray, kinds: np.ndarray, kind_names: Sequence[str]
) -> dict[str, float]:
    """ROC-AUC on each kind of anomaly: ``(T,)`` scores and ``(T,)`` kind ids -> ``{kind: AUC}``.

    ``kinds`` holds 0 for a normal step and ``i + 1`` for a step of ``kind_names[i]``. The steps
    of one kind are ranked against the normal steps only (the other kinds are left out), so
    each number says how well the detector separates that kind from normal behaviour. A kind
    with no step in ``kinds`` is left out of the result.
    """
    scores, kinds = np.asarray(scores, dtype=np.float64), np.asarray(kinds)
    if scores.shape != kinds.shape or scores.ndim != 1:
        raise ValueError(
            f"scores and kinds must be 1-D of the same length, got {scores.shape} and "
            f"{kinds.shape}"
        )
    result = {}
    for k, name in enumerate(kind_names, start=1):
        if (kinds == k).any():
            mask = (kinds == 0) | (kinds == k)
            result[name] = roc_auc(scores[mask], kinds[mask] == k)
    return result


# --------------------------------------------------------------------------------------------- baselines
def pca_scores(
    train_windows: np.ndarray, test_windows: np.ndarray, components: int
) -> np.ndarray:
    """PCA reconstruction error per window and step: fit on ``(N, C, W)`` training windows flattened to
    ``C*W`` numbers, keep ``components`` directions, reconstruct ``(M, C, W)`` windows -> ``(M, W)``
    squared error averaged over channels."""
    train = np.asarray(train_windows, dtype=np.float64).reshape(len(train_windows), -1)
    test = np.asarray(test_windows, dtype=np.float64)
    if not 1 <= components <= min(train.shape):
        raise ValueError(
            f"components must be in [1, {min(train.shape)}], got {components}"
        )
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:components]  # (k, C*W)
    flat = test.reshape(len(test), -1) - mean
    recon = flat @ basis.T @ basis
    return ((flat - recon) ** 2).reshape(test.shape).mean(axis=1)


def moving_zscore_scores(values: np.ndarray, window: int) -> np.ndarray:
    """Moving-average z-score: for each step and channel ``|x_t - mean| / std`` over the previous
    ``window`` steps (the step itself excluded), then the largest over channels -> ``(T,)``.

    The first steps use the history they have (at least two steps; step 0 and 1 score 0).
    """
    x = np.asarray(values, dtype=np.float64)
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    T = len(x)
    c1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    c2 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x**2, axis=0)])
    t = np.arange(T)
    lo = np.maximum(0, t - window)
    n = (t - lo)[:, None].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[t] - c1[lo]) / n
        var = (c2[t] - c2[lo]) / n - mean**2
        z = np.abs(x - mean) / np.sqrt(np.maximum(var, 1e-6))
    z[n[:, 0] < 2] = 0.0
    return z.max(axis=1)


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder of windows: ``(B, C, W) -> (B, C, W)`` through a ``bottleneck``-wide code.

    Encoder: conv (stride 1), two strided convs (W -> W/4), a linear map to the code; the decoder mirrors it.
    ``W`` must be divisible by 4.
    """

    def __init__(self, channels: int, window: int, width: int, bottleneck: int):
        super().__init__()
        if window % 4:
            raise ValueError(f"window must be divisible by 4, got {window}")
        self.shape = (width, window // 4)
        self.encoder = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(width * window // 4, bottleneck),
        )
        self.decoder_input = nn.Linear(bottleneck, width * window // 4)
        self.decoder = nn.Sequential(
            nn.GELU(),
            nn.ConvTranspose1d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose1d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv1d(width, channels, 5, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(x)
        return self.decoder(self.decoder_input(code).view(-1, *self.shape))


def matched_autoencoder(
    channels: int, window: int, bottleneck: int, target_parameters: int
) -> ConvAutoencoder:
    """The :class:`ConvAutoencoder` whose parameter count is closest to ``target_parameters``."""

    def count(width: int) -> int:
        return count_parameters(ConvAutoencoder(channels, window, width, bottleneck))

    best = min(range(4, 257, 2), key=lambda w: abs(count(w) - target_parameters))
    return ConvAutoencoder(channels, window, best, bottleneck)


__all__ = [
    "ConvAutoencoder",
    "best_f1",
    "evaluate_scores",
    "matched_autoencoder",
    "moving_zscore_scores",
    "count_parameters",
    "pca_scores",
    "point_adjust",
    "point_adjusted_f1",
    "pr_auc",
    "precision_recall",
    "roc_auc",
    "scores_from_window_errors",
]
