"""A deterministic generator of server-like multivariate metrics with labelled anomalies.

One shared latent *load* drives every channel, the way user traffic drives a server's CPU, memory,
requests, latency and network: a daily and a weekly seasonality, a slow trend and autocorrelated
noise. Each channel sees the load with its own small lag, through its own non-linear transform,
gain, offset and noise, so the channels are strongly correlated without being copies of each other.

Anomalies of five kinds are injected and labelled per time step (``labels``: 0/1; ``kinds``: 0 for
normal, ``1 + ANOMALY_KINDS.index(kind)`` otherwise):

- ``spike``: 1-3 steps, one or two channels jump by 4-7 of their standard deviations;
- ``level_shift``: one channel moves by 1.5-3 standard deviations for 16-48 steps;
- ``drift``: one channel drifts away linearly (to 2.5-4 standard deviations) over 32-72 steps;
- ``frequency``: the daily rhythm of the whole system runs four times too fast for 32-72 steps;
- ``decorrelation``: one or two channels follow the load of half a day later for 32-72 steps:
  each value on its own looks normal, only the relation to the other channels is broken.

Time steps are 30 minutes (``DAY = 48`` steps). Everything is drawn from one seeded
``numpy.random.Generator``, so the same arguments always give the same series.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch

from ..streams import SeededBatches

DAY = 48
WEEK = 7 * DAY
ANOMALY_KINDS = ("spike", "level_shift", "drift", "frequency", "decorrelation")
CHANNEL_NAMES = (
    "cpu",
    "memory",
    "requests",
    "latency",
    "network_in",
    "network_out",
    "disk_io",
    "errors",
)

# channel transforms of the load (pointwise, so an anomaly's effect stays inside its labelled segment)
_TRANSFORMS = (
    lambda u: np.tanh(u),  # cpu: saturates
    lambda u: 0.6 * u,  # memory (plus its own sawtooth, below)
    lambda u: np.exp(0.6 * u),  # requests: multiplicative
    lambda u: np.log1p(np.exp(2.0 * (u - 0.3))),  # latency: a hockey stick (softplus)
    lambda u: u,  # network in: linear
    lambda u: 0.8 * u + 0.25 * u**2,  # network out: mildly convex
    lambda u: np.tanh(0.7 * u) + 0.1 * u,  # disk io
    lambda u: 0.2 * np.exp(u),  # errors: rare at low load
)


@dataclass
class Series:
    """One split: ``values (T, C)`` float32, ``labels (T,)`` 0/1, ``kinds (T,)`` anomaly-kind ids.

    ``anomalies`` lists the injected events as dicts ``{kind, start, end, channels}`` (``end`` exclusive).
    """

    values: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    channels: tuple[str, ...]
    anomalies: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"values must be (T, C), got shape {self.values.shape}")
        T = len(self.values)
        if self.labels.shape != (T,) or self.kinds.shape != (T,):
            raise ValueError(
                f"labels and kinds must be ({T},), got {self.labels.shape} and {self.kinds.shape}"
            )

    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_channels(self) -> int:
        return self.values.shape[1]

    def with_values(self, values: np.ndarray) -> "Series":
        return replace(self, values=np.asarray(values, dtype=np.float32))


@dataclass
class Normaliser:
    """Per-channel standardisation fitted on the training split only: ``(x - mean) / std``."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> "Normaliser":
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 1e-8, std, 1.0))

    def __call__(self, series: Series) -> Series:
        return series.with_values((series.values - self.mean) / self.std)


@dataclass
class SyntheticData:
    """Train, validation and test splits (consecutive in time) of one generated system."""

    train: Series
    validation: Series
    test: Series
    settings: dict[str, Any]

    @property
    def channels(self) -> tuple[str, ...]:
        return self.train.channels

    def normalised(self) -> tuple["SyntheticData", Normaliser]:
        """All splits standardised with the training split's mean and standard deviation."""
        norm = Normaliser.fit(self.train.values)
        return SyntheticData(
            norm(self.train), norm(self.validation), norm(self.test), self.settings
        ), norm


def _load(
    t: np.ndarray,
    params: tuple[float, float, float],
    noise: np.ndarray,
    fast: np.ndarray | None = None,
) -> np.ndarray:
    """The shared latent load at (possibly shifted) times ``t``; ``fast`` marks steps whose daily rhythm is 4x."""
    phase_day, phase_week, slope = params
    period = (
        np.full(t.shape, float(DAY)) if fast is None else np.where(fast, DAY / 4, DAY)
    )
    daily = np.sin(2 * np.pi * t / period + phase_day) + 0.3 * np.sin(
        4 * np.pi * t / DAY + phase_day
    )
    weekly = 0.5 * np.sin(2 * np.pi * t / WEEK + phase_week)
    return 0.8 * daily + weekly + slope * t / (10 * WEEK) + noise


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    eps = rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + eps[i]
    return out


def _segment_length(kind: str, rng: np.random.Generator) -> int:
    low, high = {
        "spike": (1, 4),
        "level_shift": (16, 49),
        "drift": (32, 73),
        "frequency": (32, 73),
        "decorrelation": (32, 73),
    }[kind]
    return int(rng.integers(low, high))


def _plan(
    n_steps: int, n_anomalies: int, kinds: Sequence[str], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Non-overlapping events: one per equal slot of the split, kinds cycled in a shuffled order."""
    events = []
    if n_anomalies == 0:
        return events
    slot = n_steps // n_anomalies
    if slot < 120:
        raise ValueError(
            f"{n_anomalies} anomalies do not fit in {n_steps} steps (need >= 120 steps each)"
        )
    order = [kinds[i % len(kinds)] for i in range(n_anomalies)]
    order = [order[i] for i in rng.permutation(n_anomalies)]
    for i, kind in enumerate(order):
        length = _segment_length(kind, rng)
        start = i * slot + int(rng.integers(10, slot - length - 10))
        events.append({"kind": kind, "start": start, "end": start + length})
    return events


def generate(
    train_steps: int = 8 * WEEK,
    validation_steps: int = 4 * WEEK,
    test_steps: int = 8 * WEEK,
    n_channels: int = 6,
    validation_anomalies: int = 5,
    test_anomalies: int = 10,
    train_anomalies: int = 0,
    kinds: Sequence[str] = ANOMALY_KINDS,
    seed: int = 0,
) -> SyntheticData:
    """Generate one system's metrics and cut them into train, validation and test splits.

    Args:
        train_steps, validation_steps, test_steps: lengths of the three consecutive splits (30-min steps).
        n_channels: number of metrics, 2 to 8 (named after :data:`CHANNEL_NAMES`).
        validation_anomalies, test_anomalies, train_anomalies: events injected into each split
            (the training split is clean by default: the detectors learn what *normal* looks like).
        kinds: which anomaly kinds to inject, cycled so that every kind appears.
        seed: the seed of the one ``numpy.random.Generator`` everything is drawn from.

    Returns:
        :class:`SyntheticData` with raw (not normalised) values.
    """
    if not 2 <= n_channels <= len(CHANNEL_NAMES):
        raise ValueError(
            f"n_channels must be in [2, {len(CHANNEL_NAMES)}], got {n_channels}"
        )
    unknown = [k for k in kinds if k not in ANOMALY_KINDS]
    if unknown or not kinds:
        raise ValueError(
            f"kinds must be a non-empty subset of {ANOMALY_KINDS}, got {list(kinds)}"
        )
    for name, n in (
        ("train_steps", train_steps),
        ("validation_steps", validation_steps),
        ("test_steps", test_steps),
    ):
        if n < 2 * DAY:
            raise ValueError(f"{name} must be >= {2 * DAY} (two days), got {n}")
    # two independent streams: the normal system, and the plan of anomalies. The same seed therefore gives
    # the same normal series whatever anomalies are injected (a clean copy is one call away).
    rng, plan_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    total = train_steps + validation_steps + test_steps
    t = np.arange(total, dtype=float)
    bounds = np.cumsum([0, train_steps, validation_steps, test_steps])

    # the plan of anomalies, in absolute time
    events: list[dict[str, Any]] = []
    for (lo, hi), n in zip(
        zip(bounds[:-1], bounds[1:]),
        (train_anomalies, validation_anomalies, test_anomalies),
    ):
        for e in _plan(int(hi - lo), n, list(kinds), plan_rng):
            events.append(
                {**e, "start": e["start"] + int(lo), "end": e["end"] + int(lo)}
            )
    for e in events:
        k = e["kind"]
        n_ch = (
            int(plan_rng.integers(1, 3))
            if k in ("spike", "decorrelation")
            else (n_channels if k == "frequency" else 1)
        )
        e["channels"] = sorted(
            int(c) for c in plan_rng.choice(n_channels, size=n_ch, replace=False)
        )
        e["sign"] = float(plan_rng.choice([-1.0, 1.0]))
        e["size"] = float(
            plan_rng.uniform(
                *{"spike": (4, 7), "level_shift": (1.5, 3), "drift": (2.5, 4)}.get(
                    k, (0, 0)
                )
            )
        )

    # the normal system's random parts: load noise, lags, load phases and trend, channel gains, offsets, noise
    noise = _ar1(rng, total + DAY, rho=0.9, sd=0.12)
    lags = rng.integers(0, 4, n_channels)
    params = (
        rng.uniform(0, 2 * np.pi),
        rng.uniform(0, 2 * np.pi),
        rng.uniform(0.2, 0.5),
    )
    gains, offsets = rng.uniform(0.6, 1.4, n_channels), rng.uniform(-1, 1, n_channels)
    noise_fraction, eps = (
        rng.uniform(0.04, 0.1, n_channels),
        rng.normal(size=(total, n_channels)),
    )

    def render(fast: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """The load as each channel sees it (own lag, maybe anomalous), through the channel's transform."""
        out = np.empty((total, n_channels))
        for c in range(n_channels):
            when = t - lags[c] + shift[:, c]
            u = _TRANSFORMS[c](
                _load(
                    when,
                    params,
                    noise[np.clip(when.astype(int), 0, total + DAY - 1)],
                    fast[:, c],
                )
            )
            # memory creeps up and is freed every restart (twice a week)
            if CHANNEL_NAMES[c] == "memory":
                u = u + 0.8 * ((t % (WEEK / 2)) / (WEEK / 2)) + 0.1 * t / WEEK
            out[:, c] = gains[c] * u + offsets[c]
        return out

    # latent-level anomalies change what a channel sees of the load
    fast = np.zeros((total, n_channels), bool)
    shift = np.zeros((total, n_channels))
    for e in events:
        rows = slice(e["start"], e["end"])
        if e["kind"] == "frequency":
            fast[rows, e["channels"]] = True
        elif e["kind"] == "decorrelation":
            shift[rows, e["channels"]] = DAY / 2
    clean = render(np.zeros_like(fast), np.zeros_like(shift))
    noise_sd = noise_fraction * clean.std(axis=0)
    values = render(fast, shift) + noise_sd * eps
    scale = (clean + noise_sd * eps).std(axis=0)

    # value-level anomalies, in units of each channel's (normal) standard deviation
    labels = np.zeros(total, np.int8)
    kind_ids = np.zeros(total, np.int8)
    for e in events:
        s, end, n = e["start"], e["end"], e["end"] - e["start"]
        for c in e["channels"]:
            if e["kind"] in ("spike", "level_shift"):
                values[s:end, c] += e["sign"] * e["size"] * scale[c]
            elif e["kind"] == "drift":
                values[s:end, c] += (
                    e["sign"] * e["size"] * scale[c] * np.linspace(1 / n, 1, n)
                )
        labels[s:end] = 1
        kind_ids[s:end] = 1 + ANOMALY_KINDS.index(e["kind"])

    names = CHANNEL_NAMES[:n_channels]
    splits = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        own = [
            {
                "kind": e["kind"],
                "start": e["start"] - int(lo),
                "end": e["end"] - int(lo),
                "channels": [names[c] for c in e["channels"]],
            }
            for e in events
            if lo <= e["start"] < hi
        ]
        splits.append(
            Series(
                values[lo:hi].astype(np.float32),
                labels[lo:hi].copy(),
                kind_ids[lo:hi].copy(),
                names,
                own,
            )
        )
    settings = dict(
        train_steps=train_steps,
        validation_steps=validation_steps,
        test_steps=test_steps,
        n_channels=n_channels,
        validation_anomalies=validation_anomalies,
        test_anomalies=test_anomalies,
        train_anomalies=train_anomalies,
        kinds=list(kinds),
        seed=seed,
    )
    return SyntheticData(*splits, settings=settings)


# --------------------------------------------------------------------------------------------- windows
def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Start indices of windows of ``window`` steps every ``stride`` steps; the last window ends at ``length``."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    if length < window:
        raise ValueError(
            f"the series ({length} steps) is shorter than one window ({window} steps)"
        )
    starts = np.arange(0, length - window + 1, stride)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


def windows(
    values: np.ndarray | torch.Tensor, window: int, stride: int = 1
) -> torch.Tensor:
    """``(T, C)`` series -> ``(N, C, W)`` float32 windows starting at :func:`window_starts`."""
    x = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if x.dim() != 2:
        raise ValueError(f"values must be (T, C), got shape {tuple(x.shape)}")
    starts = torch.as_tensor(window_starts(len(x), window, stride))
    index = starts[:, None] + torch.arange(window)[None, :]  # (N, W)
    return x[index].transpose(1, 2).contiguous()  # (N, C, W)


class WindowBatches(SeededBatches):
    """Endless batches of random training windows ``(B, C, W)``, resumable (``state_dict``) for ``fit``.

    Batch ``k`` is drawn from a generator seeded with ``(seed, k)``, so it does not depend on how the
    run was interrupted.
    """

    def __init__(
        self,
        values: np.ndarray | torch.Tensor,
        window: int,
        batch_size: int,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(batch_size, seed)
        self.values = torch.as_tensor(np.asarray(values, dtype=np.float32))
        if len(self.values) < window:
            raise ValueError(
                f"the series ({len(self.values)} steps) is shorter than one window ({window})"
            )
        self.window, self.device = window, device

    def draw(self, step: int) -> torch.Tensor:
        starts = torch.randint(
            0,
            len(self.values) - self.window + 1,
            (self.batch_size,),
            generator=self.generator(step),
        )
        batch = self.values[starts[:, None] + torch.arange(self.window)].transpose(1, 2)
        return batch.to(self.device) if self.device is not None else batch

    def settings(self) -> dict[str, int]:
        return {**super().settings(), "window": self.window, "length": len(self.values)}
