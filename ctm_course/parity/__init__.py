"""The parity task of lesson 2: data, accuracies, the attention-order analysis and an LSTM baseline.

A sequence ``x`` of L values in {-1, +1} is shown to the model all at once; at every position l
the model must say whether the prefix ``x_0 .. x_l`` holds an odd number of -1s:

    y_l = #{m <= l : x_m = -1} mod 2        (1 = odd = the product of the prefix is -1)

exactly as the reference ``ParityDataset`` defines it. A model answers with logits
``(B, 2L, T)`` (two classes per position, at each of T internal ticks), read as ``(B, L, 2, T)``.

- :mod:`.data`: :func:`parity_targets`, :func:`random_sequences`, :class:`ParityBatches` (fresh random
  sequences, resumable), :func:`parity_test_set` (a fixed, seeded test set);
- :mod:`.evaluation`: :func:`parity_predictions`, :func:`parity_correct_at`, :func:`parity_accuracy`,
  :func:`parity_accuracy_per_tick`, :func:`accuracy_per_position`, :func:`evaluate_parity`;
- :mod:`.strategy`: :func:`attention_mass` (where the model looks, per head and tick) and
  :func:`reading_order` (does attention reach the positions in order? a permutation test);
- :mod:`.training`: :func:`parity_step`, one training step for ``fit``;
- :mod:`.models`: :func:`parity_model_args` (the CTM's arguments for the task), :class:`ParityLSTM` and
  :func:`matched_lstm`: an LSTM with the CTM's input pipeline and ticks, its width chosen so that it has
  (within 5%) as many parameters as the CTM.
"""

from __future__ import annotations

from ..parameters import count_parameters
from .data import ParityBatches, parity_targets, parity_test_set, random_sequences
from .evaluation import (
    accuracy_per_position,
    evaluate_parity,
    parity_accuracy,
    parity_accuracy_per_tick,
    parity_correct_at,
    parity_predictions,
)
from .models import ParityLSTM, lstm_parameter_count, matched_lstm, parity_model_args
from .strategy import attention_mass, reading_order
from .training import parity_step

__all__ = [
    "ParityBatches",
    "ParityLSTM",
    "accuracy_per_position",
    "attention_mass",
    "count_parameters",
    "evaluate_parity",
    "lstm_parameter_count",
    "matched_lstm",
    "parity_accuracy",
    "parity_accuracy_per_tick",
    "parity_correct_at",
    "parity_model_args",
    "parity_predictions",
    "parity_targets",
    "parity_step",
    "parity_test_set",
    "reading_order",
    "random_sequences",
]
