"""Multivariate time series for lesson 3: data, the reconstruction CTM, anomaly scores and baselines.

- :mod:`.generate`: a deterministic generator of server-like metrics with labelled anomalies, splits,
  normalisation, windows ``(B, C, W)`` and a resumable batch source.
- :mod:`.csv`: a reader's own CSV file (time x channels, optional label column), checked.
- :mod:`.model`: the temporal backbone, the positional embedding, the reconstruction wrapper around the
  one :class:`~ctm_course.ctm.ContinuousThoughtMachine`, its certainty and loss.
- :mod:`.detect`: per-time-step anomaly scores, ROC-AUC, PR-AUC, best F1, point-adjusted F1, baselines.
- :mod:`.plots`: the lesson's figures (series with anomalies, reconstructions tick by tick, attention and
  neurons over a window, scores over time).
"""

from .csv import load_csv
from .detect import (
    ConvAutoencoder,
    best_f1,
    evaluate_scores,
    matched_autoencoder,
    moving_zscore_scores,
    pca_scores,
    per_kind_roc_auc,
    point_adjust,
    point_adjusted_f1,
    pr_auc,
    roc_auc,
    scores_from_window_errors,
)
from .generate import (
    ANOMALY_KINDS,
    CHANNEL_NAMES,
    Normaliser,
    Series,
    SyntheticData,
    WindowBatches,
    generate,
    window_starts,
    windows,
)
from .model import (
    ReconstructionCTM,
    TemporalBackbone,
    errors_at,
    per_tick_mse,
    reconstruct,
    reconstruction_loss,
    regression_certainty,
)

__all__ = [
    "ANOMALY_KINDS",
    "CHANNEL_NAMES",
    "ConvAutoencoder",
    "Normaliser",
    "ReconstructionCTM",
    "Series",
    "SyntheticData",
    "TemporalBackbone",
    "WindowBatches",
    "best_f1",
    "errors_at",
    "evaluate_scores",
    "generate",
    "load_csv",
    "matched_autoencoder",
    "moving_zscore_scores",
    "pca_scores",
    "per_kind_roc_auc",
    "per_tick_mse",
    "point_adjust",
    "point_adjusted_f1",
    "pr_auc",
    "reconstruct",
    "reconstruction_loss",
    "regression_certainty",
    "roc_auc",
    "scores_from_window_errors",
    "window_starts",
    "windows",
]
