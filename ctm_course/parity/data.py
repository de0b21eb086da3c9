"""Parity problems: targets, random ±1 sequences, an endless resumable batch stream and a fixed test set.

A sequence ``x`` of L values in {-1, +1} is shown to the model all at once; at every position l
the model must say whether the prefix ``x_0 .. x_l`` holds an odd number of -1s:

    y_l = #{m <= l : x_m = -1} mod 2        (1 = odd = the product of the prefix is -1)

exactly as the reference ``ParityDataset`` defines it.
"""

from __future__ import annotations

import torch

from ..streams import SeededBatches


def parity_targets(x: torch.Tensor) -> torch.Tensor:
    """Cumulative parity of ±1 sequences: (B, L) or (L,) values -> same shape, int64 in {0, 1}.

    ``y_l = (number of -1 among x_0..x_l) mod 2``; e.g. ``[1, 1, -1, -1, 1] -> [0, 0, 1, 0, 0]``.

    Raises:
        ValueError: when ``x`` is not 1-D or 2-D or holds values other than -1 and +1.
    """
    if x.dim() not in (1, 2):
        raise ValueError(f"x must be (L,) or (B, L), got shape {tuple(x.shape)}")
    if not bool(((x == 1) | (x == -1)).all()):
        raise ValueError("x must contain only -1 and +1")
    return torch.cumsum((x == -1).long(), dim=-1) % 2


def random_sequences(
    n: int, length: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` uniform random ±1 sequences of ``length``: (n, length) float32."""
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be >= 1, got n={n}, length={length}")
    bits = torch.randint(0, 2, (n, length), generator=generator)
    return (2 * bits - 1).float()


def _batch_seed(seed: int, index: int) -> int:
    """A distinct 63-bit seed for every (seed, batch index) pair."""
    return (
        seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB
    ) % (1 << 63)


class ParityBatches(SeededBatches):
    """Endless batches of fresh random parity problems, resumable from a checkpoint.

    Batch ``k`` is drawn from a ``torch.Generator`` seeded with a function of ``(seed, k)``, so
    the whole stream is fixed by ``seed`` and the state is one integer: a run resumed with
    :meth:`load_state_dict` sees exactly the batches it would have seen without interruption.
    This is the ``InfiniteBatches`` protocol that :func:`ctm_course.train.fit` expects.

    Args:
        length: sequence length L.
        batch_size: sequences per batch B.
        seed: fixes the stream (use another seed than the test set's).
        device: where to put each batch.

    Yields:
        ``(x (B, L) float32 in {-1, +1}, y (B, L) int64 in {0, 1})``.
    """

    counter = "position"

    def __init__(
        self,
        length: int,
        batch_size: int,
        seed: int = 0,
        device: torch.device | str | None = None,
    ):
        if length < 1:
            raise ValueError(f"ParityBatches: length must be >= 1, got {length}")
        super().__init__(batch_size, seed)
        self.length, self.device = length, device

    def batch_seed(self, step: int) -> int:
        return _batch_seed(self.seed, step)

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = random_sequences(self.batch_size, self.length, self.generator(step))
        y = parity_targets(x)
        if self.device is not None:
            x, y = x.to(self.device), y.to(self.device)
        return x, y

    def settings(self) -> dict[str, int]:
        return {**super().settings(), "length": self.length}


def parity_test_set(
    n: int, length: int, seed: int = 12345
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed test set: ``n`` random sequences from a seeded generator -> (x (n, L), y (n, L)).

    (The reference draws a fresh "test" set each evaluation; a fixed one makes runs comparable.)
    """
    x = random_sequences(n, length, torch.Generator().manual_seed(seed))
    return x, parity_targets(x)
