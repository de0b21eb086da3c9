"""The course's labelled image data set in memory: :class:`ImageData` (MNIST, Fashion-MNIST, CIFAR-10)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .sources import SOURCES


@dataclass
class ImageData:
    """A labelled image data set held in memory.

    Attributes:
        images: ``(N, C, H, W)`` float32 in ``[0, 1]`` (``C = 1`` for MNIST).
        labels: ``(N,)`` int64 class indices into ``classes``.
        classes: class names, ``classes[k]`` is the name of label ``k``.
        source: one of :data:`~ctm_course.data.sources.SOURCES`: ``"download"`` (torchvision's full
            set), ``"offline-full"``, ``"offline-subset"`` or ``"sample"`` (the small sample shipped
            with the package).
        root: the folder (or, for the sample, the file) the data came from.
        name: the data set, e.g. ``"MNIST"``.
        split: ``"train"`` or ``"test"``.
        note: the one-line note printed when the data were loaded.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str
    root: str | None
    name: str = ""
    split: str = ""
    note: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(
                f"ImageData: source must be one of {SOURCES}, got {self.source!r}"
            )
        if self.images.ndim != 4:
            raise ValueError(
                f"ImageData: images must be (N, C, H, W), got shape {tuple(self.images.shape)}"
            )
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise ValueError(
                f"ImageData: labels must be (N,) with N = {len(self.images)}, got shape {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return (
            f"ImageData({self.name or '?'} {self.split or '?'}: {len(self):,} images {c}x{h}x{w}, "
            f"{len(self.classes)} classes, source={self.source!r}, root={self.root!r})"
        )

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(classes)``."""
        return len(self.classes)

    def class_counts(self) -> torch.Tensor:
        """``(num_classes,)`` int64: how many images each class has."""
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes)

    def subset(self, n: int, seed: int = 0, balanced: bool = True) -> ImageData:
        """A random subset of ``n`` images (kept in their original order).

        Args:
            n: how many images to keep (``n == len(self)`` returns ``self``).
            seed: seed of the ``torch.Generator`` that draws them.
            balanced: draw ``n // num_classes`` images per class (the first ``n % num_classes``
                classes get one more); otherwise draw ``n`` images uniformly at random.

        Raises:
            ValueError: ``n`` is out of range, or ``balanced`` and a class has too few images.
        """
        if not 0 < n <= len(self):
            raise ValueError(f"subset: n must be in 1..{len(self)}, got {n}")
        if n == len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        labels = self.labels.cpu()
        if balanced:
            per_class, extra = divmod(n, self.num_classes)
            parts = []
            for k in range(self.num_classes):
                need = per_class + (1 if k < extra else 0)
                members = (labels == k).nonzero().flatten()
                if len(members) < need:
                    raise ValueError(
                        f"subset: class {k} ({self.classes[k]!r}) has {len(members)} images, "
                        f"{need} needed for a balanced subset of {n}; use balanced=False"
                    )
                parts.append(members[torch.randperm(len(members), generator=g)[:need]])
            index = torch.cat(parts)
        else:
            index = torch.randperm(len(self), generator=g)[:n]
        index = index.sort().values.to(self.images.device)
        return replace(self, images=self.images[index], labels=self.labels[index])

    def to(self, device: torch.device | str) -> ImageData:
        """A copy with ``images`` and ``labels`` on ``device``."""
        return replace(
            self, images=self.images.to(device), labels=self.labels.to(device)
        )
