"""Load a reader's own multivariate time series from a CSV file, with clear errors on bad files.

Expected layout: a header row, one row per time step, one numeric column per channel, optionally a
time-stamp column (ignored; rows must already be in time order) and a 0/1 label column::

    timestamp,cpu,memory,requests,label
    2024-01-01 00:00,0.31,0.52,120,0
    ...

The training part (the first ``train_fraction`` of the rows) is used to fit the normalisation,
exactly as for the synthetic data, so no statistics leak from the evaluation part.
"""

from __future__ import annotations

import csv as _csv
from pathlib import Path

import numpy as np

from .generate import Normaliser, Series


def load_csv(
    path: str | Path,
    label_column: str | None = None,
    time_column: str | None = None,
    min_steps: int = 64,
    train_fraction: float = 0.5,
) -> tuple[Series, Series, Normaliser]:
    """Read ``path`` and return ``(train, test, normaliser)`` with values standardised on ``train``.

    Args:
        path: the CSV file (comma-separated, header row first).
        label_column: name of a 0/1 column marking anomalies (``None``: no labels, all zeros).
        time_column: name of a column to ignore (e.g. time stamps); ``None`` also ignores a
            first column named ``time``, ``timestamp`` or ``date``.
        min_steps: fewer rows than this is an error (a window needs enough history).
        train_fraction: fraction of the rows, from the start, used for training and normalisation.

    Raises:
        ValueError: missing file content, no channel columns, a missing or non-numeric value (naming
            the row and column), labels other than 0/1, or too few rows.
    """
    path = Path(path)
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    with path.open(newline="") as f:
        rows = [row for row in _csv.reader(f) if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(
            f"{path}: the file is empty; expected a header row and one row per time step"
        )
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise ValueError(f"{path}: duplicate column names in the header {header}")
    if label_column is not None and label_column not in header:
        raise ValueError(
            f"{path}: label_column {label_column!r} is not a column; columns are {header}"
        )
    if time_column is not None and time_column not in header:
        raise ValueError(
            f"{path}: time_column {time_column!r} is not a column; columns are {header}"
        )
    if (
        time_column is None
        and header
        and header[0].lower() in ("time", "timestamp", "date", "datetime")
    ):
        time_column = header[0]
    skip = {time_column, label_column}
    channels = [h for h in header if h not in skip]
    if not channels:
        raise ValueError(
            f"{path}: no channel columns (columns: {header}; label {label_column!r}, time {time_column!r})"
        )
    data = rows[1:]
    if len(data) < min_steps:
        raise ValueError(
            f"{path}: {len(data)} time steps is too short; need at least {min_steps}"
        )

    values = np.empty((len(data), len(channels)), np.float32)
    labels = np.zeros(len(data), np.int8)
    columns = {h: i for i, h in enumerate(header)}
    for r, row in enumerate(data, start=2):  # line numbers as an editor shows them
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {r}: {len(row)} values, but the header has {len(header)} columns"
            )
        for c, name in enumerate(channels):
            cell = row[columns[name]].strip()
            if cell == "" or cell.lower() in ("nan", "na", "null", "none"):
                raise ValueError(
                    f"{path}, line {r}, column {name!r}: missing value; fill or drop it first "
                    "(e.g. pandas .interpolate())"
                )
            try:
                values[r - 2, c] = float(cell)
            except ValueError:
                raise ValueError(
                    f"{path}, line {r}, column {name!r}: {cell!r} is not a number; channel "
                    f"columns must be numeric (pass time_column= or label_column= for others)"
                ) from None
            if not np.isfinite(values[r - 2, c]):
                raise ValueError(
                    f"{path}, line {r}, column {name!r}: {cell!r} is not a finite number"
                )
        if label_column is not None:
            cell = row[columns[label_column]].strip()
            if cell not in ("0", "1", "0.0", "1.0"):
                raise ValueError(
                    f"{path}, line {r}, column {label_column!r}: labels must be 0 or 1, got {cell!r}"
                )
            labels[r - 2] = int(float(cell))

    split = int(round(len(data) * train_fraction))
    if split < min_steps // 2 or len(data) - split < min_steps // 2:
        raise ValueError(
            f"{path}: train_fraction={train_fraction} leaves too few steps on one side "
            f"({split} / {len(data) - split})"
        )
    names = tuple(channels)
    train = Series(values[:split], labels[:split], labels[:split].copy(), names)
    test = Series(values[split:], labels[split:], labels[split:].copy(), names)
    norm = Normaliser.fit(train.values)
    return norm(train), norm(test), norm
