"""Endless, resumable batch streams whose batch ``k`` depends only on ``(seed, k)``.

Lessons 2, 3 and 5 draw fresh training data for every step (parity sequences, windows of a time
series, cluttered stimuli). Seeding each batch from ``(seed, k)`` makes the stream independent of
how a run was interrupted: :meth:`SeededBatches.state_dict` is the step counter plus the settings
that fix the stream, and ``fit`` saves it with every checkpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch


class SeededBatches:
    """Base class: subclasses implement :meth:`draw` (one batch from a seeded generator).

    Attributes:
        batch_size: examples per batch B.
        seed: fixes the whole stream.
        step: index of the next batch.
    """

    counter: ClassVar[str] = "step"
    """The name of the step counter in :meth:`state_dict`."""

    def __init__(self, batch_size: int, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(
                f"{type(self).__name__}: batch_size must be >= 1, got {batch_size}"
            )
        self.batch_size, self.seed, self.step = batch_size, seed, 0

    def batch_seed(self, step: int) -> int:
        """The generator seed of batch ``step`` (distinct for every ``(seed, step)``)."""
        return self.seed * 1_000_003 + step

    def generator(self, step: int) -> torch.Generator:
        """A CPU generator seeded for batch ``step``."""
        return torch.Generator().manual_seed(self.batch_seed(step))

    def draw(self, step: int) -> Any:
        """Batch number ``step``; it must depend only on ``(self.seed, step)`` and the settings."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The settings a saved state must share to continue this stream (seed, batch size, ...)."""
        return {"seed": self.seed, "batch_size": self.batch_size}

    def __iter__(self) -> SeededBatches:
        return self

    def __next__(self) -> Any:
        batch = self.draw(self.step)
        self.step += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The step counter and :meth:`settings`."""
        return {self.counter: self.step, **self.settings()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next batch is the one that would have followed.

        Raises:
            ValueError: the state was saved with other settings, or its counter is negative.
        """
        name = f"{type(self).__name__}.load_state_dict"
        for key, value in self.settings().items():
            if key in state and state[key] != value:
                raise ValueError(
                    f"{name}: saved {key}={state[key]!r} differs from this stream's "
                    f"{value!r}; the batches would not continue"
                )
        step = int(state[self.counter])
        if step < 0:
            raise ValueError(f"{name}: {self.counter} must be >= 0, got {step}")
        self.step = step
