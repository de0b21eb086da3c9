"""Mini-batches straight from tensors in memory (no ``DataLoader``, no PIL round trips).

MNIST-sized data sets fit in memory many times over, so a batch is just an index into two
tensors. :func:`batches` walks one epoch; :class:`InfiniteBatches` walks epoch after epoch,
reshuffling each with a permutation determined by ``(seed, epoch)``, and can save and restore
its position so that a training run resumed from a checkpoint sees the same batches it would
have seen without the interruption.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

from .image_data import ImageData

Batch = tuple[torch.Tensor, torch.Tensor]
Transform = Callable[[torch.Tensor], torch.Tensor]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
"""Mean and standard deviation of the MNIST training pixels (in [0, 1])."""
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
"""Mean and standard deviation of the Fashion-MNIST training pixels (in [0, 1])."""


def normalise(
    images: torch.Tensor, mean: float = MNIST_MEAN, std: float = MNIST_STD
) -> torch.Tensor:
    """``(images - mean) / std``; ``images`` of any shape, e.g. ``(B, 1, 28, 28)`` in [0, 1]."""
    return (images - mean) / std


def _take(
    data: ImageData,
    index: torch.Tensor,
    device: torch.device | str | None,
    transform: Transform | None,
) -> Batch:
    index = index.to(data.images.device)
    x, y = data.images[index], data.labels[index]
    if device is not None:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if transform is not None:
        x = transform(x)
    return x, y


def batches(
    data: ImageData,
    batch_size: int,
    shuffle: bool = True,
    seed: int | None = None,
    drop_last: bool = False,
    device: torch.device | str | None = None,
    transform: Transform | None = None,
) -> Iterator[Batch]:
    """Iterate once over ``data`` in mini-batches.

    Args:
        data: the data set (``images (N, C, H, W)``, ``labels (N,)``).
        batch_size: images per batch.
        shuffle: visit the images in a random order (otherwise in stored order).
        seed: seed of the shuffle; ``None`` draws from torch's global RNG (``torch.manual_seed``).
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        device: move each batch there (the data set itself stays where it is).
        transform: applied to each image batch, e.g. ``lambda x: random_shift(x, 2)`` for
            training; leave it ``None`` for evaluation.

    Yields:
        ``(images (B, C, H, W), labels (B,))`` with ``B = batch_size`` (the last one may be smaller).
    """
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    n = len(data)
    if shuffle:
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield _take(data, order[start : start + batch_size], device, transform)


def _epoch_seed(seed: int, epoch: int) -> int:
    """A distinct 63-bit seed for every (seed, epoch) pair."""
    return (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + 1) % (1 << 63)


class InfiniteBatches:
    """Endless mini-batches, reshuffled every epoch, with a resumable position.

    The order of epoch ``e`` is ``torch.randperm(N)`` drawn from a generator seeded with a
    function of ``(seed, e)``, so it does not depend on how many batches were drawn before; a
    state of two integers (epoch, position) is enough to resume exactly.

    Example::

        stream = InfiniteBatches(train, batch_size=64, seed=0)
        for step in range(steps):
            x, y = next(stream)
            ...
            checkpoint["batches"] = stream.state_dict()
        # later: stream.load_state_dict(checkpoint["batches"]) continues with the next batch

    Args:
        data: the data set (``images (N, C, H, W)``, ``labels (N,)``).
        batch_size: images per batch.
        seed: seed of the per-epoch shuffles.
        drop_last: skip each epoch's last batch when it is smaller than ``batch_size`` (default;
            keeps batch shapes constant).
        device: move each batch there.
        transform: applied to each image batch (train-time augmentation).
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        seed: int = 0,
        drop_last: bool = True,
        device: torch.device | str | None = None,
        transform: Transform | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(
                f"InfiniteBatches: batch_size must be >= 1, got {batch_size}"
            )
        if drop_last and batch_size > len(data):
            raise ValueError(
                f"InfiniteBatches: batch_size={batch_size} is larger than the data set ({len(data)}) "
                "with drop_last=True; use a smaller batch or drop_last=False"
            )
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = drop_last
        self.device = device
        self.transform = transform
        self.epoch = 0
        # index into the epoch's order of the next batch's first image
        self.position = 0
        self._order: torch.Tensor | None = None
        self._order_epoch = -1

    @property
    def batches_per_epoch(self) -> int:
        """Number of batches in one epoch."""
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """``(N,)`` int64: the order in which epoch ``epoch`` visits the images."""
        if epoch != self._order_epoch or self._order is None:
            g = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
            self._order, self._order_epoch = (
                torch.randperm(len(self.data), generator=g),
                epoch,
            )
        return self._order

    def __iter__(self) -> InfiniteBatches:
        return self

    def __next__(self) -> Batch:
        n = len(self.data)
        end = self.position + self.batch_size
        if self.position >= n or (self.drop_last and end > n):
            self.epoch, self.position = self.epoch + 1, 0
            end = self.batch_size
        index = self.order(self.epoch)[self.position : end]
        self.position = min(end, n)
        return _take(self.data, index, self.device, self.transform)

    def state_dict(self) -> dict[str, int | bool]:
        """Where the stream stands: ``epoch``, ``position`` and the settings that fix the order."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "num_samples": len(self.data),
        }

    def load_state_dict(self, state: dict[str, int | bool]) -> None:
        """Continue from a :meth:`state_dict`; the next batch is the one that would have followed.

        Raises:
            ValueError: the state was saved with another seed, batch size, ``drop_last`` or data
                set size, so the sequences would not match.
        """
        current = self.state_dict()
        for key in ("seed", "batch_size", "drop_last", "num_samples"):
            if key in state and state[key] != current[key]:
                raise ValueError(
                    f"InfiniteBatches.load_state_dict: saved {key}={state[key]!r} differs from this "
                    f"stream's {current[key]!r}; the batch sequence would not continue"
                )
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position <= len(self.data):
            raise ValueError(
                f"InfiniteBatches.load_state_dict: bad epoch/position {epoch}/{position}"
            )
        self.epoch, self.position = epoch, position
