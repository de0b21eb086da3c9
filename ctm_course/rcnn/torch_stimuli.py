"""Vectorised torch version of the cluttered stimuli, fast enough to feed a GPU.

The same scenes as :mod:`ctm_course.rcnn.stimuli`, rendered in one pass for a whole batch: every
canvas pixel of every object is mapped back through placement, 3x3 cell scrambling, rotation and
zoom to a point of the 28x28 source image, which ``grid_sample`` reads (bilinear, where the paper's
SciPy code interpolates cubically; so the two agree closely but not bit for bit). Scene parameters
are sampled on the device with a seeded ``torch.Generator``: batch ``k`` of seed ``s`` is the same
on every run, which makes :class:`StimulusBatches` resumable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..streams import SeededBatches
from .stimuli import (
    ANGLE,
    CANVAS,
    N_OBJECTS,
    SLOT_CENTRES,
    ZOOM_LEVELS,
    ObjectSources,
    Scene,
    Stimuli,
)


@dataclass
class SceneBatch:
    """Scene parameters of ``B`` images as tensors on one device (shapes as in :class:`Scene`, plus B)."""

    target: torch.Tensor  # (B,) int64, 4..7
    domain: torch.Tensor  # (B, 8) int64
    index: torch.Tensor  # (B, 8) int64
    zoom: torch.Tensor  # (B, 8) float32
    angle: torch.Tensor  # (B, 8) float32, degrees
    perm: torch.Tensor  # (B, 8, 9) int64
    centre: torch.Tensor  # (B, 8, 2) float32 (row, col)
    large: torch.Tensor  # (B, 8) bool
    clockwise: torch.Tensor  # (B, 8) bool

    def __getitem__(self, index) -> "SceneBatch":
        return SceneBatch(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @staticmethod
    def from_scenes(scenes: list[Scene], device="cpu") -> "SceneBatch":
        """Stack NumPy scenes (e.g. from :func:`~ctm_course.rcnn.stimuli.sample_scene`) for the torch renderer."""

        def stack(name, dtype):
            return torch.as_tensor(
                np.stack([getattr(s, name) for s in scenes]), dtype=dtype, device=device
            )

        return SceneBatch(
            torch.tensor([s.target for s in scenes], device=device),
            stack("domain", torch.int64),
            stack("index", torch.int64),
            stack("zoom", torch.float32),
            stack("angle", torch.float32),
            stack("perm", torch.int64),
            stack("centre", torch.float32),
            stack("large", torch.bool),
            stack("clockwise", torch.bool),
        )


CHUNK = 1024  # images rendered at once (about 1 GB of intermediate tensors)
PATCH = 46  # the largest object (28 * 1.6 = 44.8 -> 45 px) fits


def rr_base(device) -> torch.Tensor:
    return torch.arange(PATCH, device=device, dtype=torch.float32).view(PATCH, 1)


def cc_base(device) -> torch.Tensor:
    return torch.arange(PATCH, device=device, dtype=torch.float32).view(1, PATCH)


class TorchStimuli:
    """Generate cluttered stimuli on ``device``.

    Args:
        sources: the split's MNIST and Fashion-MNIST objects.
        device: where the images are made (the GPU, to feed a GPU).

    ``generator(n, seed)`` returns a :class:`~ctm_course.rcnn.stimuli.Stimuli` on ``device``.
    """

    def __init__(self, sources: ObjectSources, device="cpu"):
        self.device = torch.device(device)
        self.sources = sources
        # (N, 1, 28, 28)
        self.images = torch.as_tensor(
            np.concatenate(sources.images), device=self.device
        )[:, None]
        labels = [torch.as_tensor(sources.labels[d]) + 10 * d for d in (0, 1)]
        self.categories = torch.cat(labels).to(self.device)
        self.offset = torch.tensor([0, len(sources.images[0])], device=self.device)
        self.count = torch.tensor(
            [len(sources.images[0]), len(sources.images[1])], device=self.device
        )
        self.slots = torch.tensor(SLOT_CENTRES, dtype=torch.float32, device=self.device)

    # ------------------------------------------------------------------ sampling
    def sample(
        self, n: int, generator: torch.Generator, fixed: bool = False
    ) -> SceneBatch:
        """Scene parameters of ``n`` images (the distribution of :func:`~ctm_course.rcnn.stimuli.sample_scene`)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        dev = self.device

        def u(*shape):
            return torch.rand(*shape, generator=generator, device=dev)

        target = 4 + (u(n) * 4).long().clamp_max(3)
        domain = (u(n, N_OBJECTS) >= 0.5).long()
        index = (
            (u(n, N_OBJECTS) * self.count[domain])
            .long()
            .clamp_max(self.count[domain] - 1)
        )
        large, clockwise = u(n, N_OBJECTS) > 0.5, u(n, N_OBJECTS) > 0.5
        if fixed:
            zoom = torch.where(large, 1.6, 0.8)
            magnitude = torch.full((n, N_OBJECTS), 35.0, device=dev)
            centre = (
                self.slots[torch.arange(N_OBJECTS, device=dev) % 4]
                .expand(n, -1, -1)
                .clone()
            )
        else:
            zoom = (
                torch.where(large, ZOOM_LEVELS[1], ZOOM_LEVELS[0])
                + (u(n, N_OBJECTS) - 0.5) / 5
            )
            magnitude = ANGLE + (u(n, N_OBJECTS) - 0.5) * 10
            centre = self.slots[torch.arange(N_OBJECTS, device=dev) % 4] + torch.round(
                (u(n, N_OBJECTS, 2) - 0.5) * 5
            )
        angle = torch.where(clockwise, -magnitude, magnitude)
        perm = u(n, N_OBJECTS, 9).argsort(-1)
        identity = (perm == torch.arange(9, device=dev)).all(-1, keepdim=True)
        # never the identity (as the paper's rejection loop)
        perm = torch.where(identity, perm.roll(1, -1), perm)
        return SceneBatch(
            target,
            domain,
            index,
            zoom.float(),
            angle.float(),
            perm,
            centre.float(),
            large,
            clockwise,
        )

    # ------------------------------------------------------------------ rendering
    def objects(self, scenes: SceneBatch) -> torch.Tensor:
        """Every object drawn alone on the canvas, normalised to max 1: ``(B, 8, 100, 100)``."""
        B = scenes.target.shape[0]
        dev = self.device
        # (B, 8) patch side s, as scipy.ndimage.zoom's output
        size = torch.round(28 * scenes.zoom)
        ar = torch.arange(PATCH, device=dev, dtype=torch.float32)
        s = size[..., None, None]
        # patch row and column; per-row and per-column values are computed once
        rr = ar.view(1, 1, PATCH, 1)
        # and broadcast to (B, 8, PATCH, PATCH) where they meet
        cc = ar.view(1, 1, 1, PATCH)
        inside = (rr < s) & (cc < s)
        # undo the 3x3 scramble for clutter objects: output cell i = (i % 3, i // 3) shows input cell perm[i]
        w = torch.div(s, 3, rounding_mode="floor")
        # (B, 8, PATCH, 1)
        cell_r = torch.div(rr, w, rounding_mode="floor").clamp_max(2)
        # (B, 8, 1, PATCH)
        cell_c = torch.div(cc, w, rounding_mode="floor").clamp_max(2)
        src = (
            torch.gather(scenes.perm, 2, (cell_c * 3 + cell_r).long().flatten(2))
            .view(inside.shape)
            .float()
        )
        clutter = (torch.arange(N_OBJECTS, device=dev) != scenes.target[:, None])[
            ..., None, None
        ]
        in_grid = (rr < 3 * w) & (cc < 3 * w)
        rr = torch.where(clutter, (src % 3 - cell_r) * w + rr, rr)
        cc = torch.where(
            clutter, (torch.div(src, 3, rounding_mode="floor") - cell_c) * w + cc, cc
        )
        inside = inside & (in_grid | ~clutter)
        # undo the rotation about the patch centre (scipy.ndimage.rotate, reshape=False), then the zoom:
        # patch pixel q comes from source pixel q * 27 / (s - 1) (corners aligned); grid_sample wants [-1, 1]
        m = (s - 1) / 2
        theta = torch.deg2rad(scenes.angle)[..., None, None]
        cos, sin = torch.cos(theta), torch.sin(theta)
        dr, dc = rr - m, cc - m
        k = 2 / (s - 1)
        grid = torch.stack(
            ((cos * dc - sin * dr + m) * k - 1, (cos * dr + sin * dc + m) * k - 1),
            dim=-1,
        )
        flat = (self.offset[scenes.domain] + scenes.index).flatten()
        patch = F.grid_sample(
            self.images[flat],
            grid.view(B * N_OBJECTS, PATCH, PATCH, 2),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=True,
        ).view(B, N_OBJECTS, PATCH, PATCH)
        patch = patch * inside
        patch = patch / patch.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        # place: patch pixel (r, c) goes to canvas (top + r, left + c); pixels outside the patch to a dump slot
        top = scenes.centre[..., 0] - torch.div(size, 2, rounding_mode="floor")
        left = scenes.centre[..., 1] - torch.div(size, 2, rounding_mode="floor")
        where = (
            (top[..., None, None] + rr_base(dev)) * CANVAS
            + left[..., None, None]
            + cc_base(dev)
        ).long()
        where = torch.where(inside, where, CANVAS * CANVAS).flatten(2)
        canvas = torch.zeros(
            B, N_OBJECTS, CANVAS * CANVAS + 1, device=dev, dtype=patch.dtype
        )
        canvas.scatter_(2, where, patch.flatten(2))
        return canvas[..., :-1].view(B, N_OBJECTS, CANVAS, CANVAS)

    def render(
        self, scenes: SceneBatch, clutter: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cluttered images and clean twins, ``(B, 1, 100, 100)`` each, min-max normalised per image.

        ``clutter`` < 1 dims the clutter objects (a training curriculum; the paper's images have 1).
        """
        objects = self.objects(scenes)
        canvas = torch.zeros_like(objects[:, 0])
        layers = objects
        # one product for all objects: the target keeps a factor of 1
        if clutter != 1.0:
            # (B, 8)
            is_target = (
                torch.arange(N_OBJECTS, device=self.device) == scenes.target[:, None]
            )
            layers = objects * torch.where(is_target, 1.0, clutter)[..., None, None]
        for i in range(N_OBJECTS):  # back to front: 0-3, then 4-7
            a = layers[:, i]
            canvas = (1 - a) * canvas + a * a
        target = objects[torch.arange(len(objects), device=self.device), scenes.target]
        return _minmax(canvas)[:, None], _minmax(target * target)[:, None]

    def labels(self, scenes: SceneBatch) -> dict[str, torch.Tensor]:
        """The target's labels, each ``(B,)`` int64 (see :mod:`ctm_course.rcnn.stimuli`)."""
        rows = torch.arange(len(scenes.target), device=self.device)
        t = scenes.target
        d = scenes.domain[rows, t]
        return {
            "category": self.categories[self.offset[d] + scenes.index[rows, t]],
            "pos_x": (t % 4) // 2,
            "pos_y": t % 2,
            "scale": scenes.large[rows, t].long(),
            "orientation": scenes.clockwise[rows, t].long(),
            "domain": d,
        }

    def __call__(
        self,
        n: int,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        fixed: bool = False,
        clutter: float = 1.0,
    ) -> Stimuli:
        """``n`` stimuli from ``seed`` (or from ``generator``); ``clutter``: see :meth:`render`."""
        if not 0 <= clutter <= 1:
            raise ValueError(f"clutter must be in [0, 1], got {clutter}")
        if generator is None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(0 if seed is None else int(seed))
        scenes = self.sample(n, generator, fixed=fixed)
        parts = [
            self.render(scenes[i : i + CHUNK], clutter) for i in range(0, n, CHUNK)
        ]  # bounded memory
        images, clean = (
            torch.cat([p[0] for p in parts]),
            torch.cat([p[1] for p in parts]),
        )
        return Stimuli(images, clean, self.labels(scenes))


def _minmax(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-6)


class StimulusBatches(SeededBatches):
    """Endless, resumable batches of fresh stimuli: batch ``k`` is drawn from seed ``seed * 1_000_003 + k``.

    ``curriculum_steps`` > 0 fades the clutter in: its intensity rises linearly from 0 to 1 over that
    many steps (full clutter afterwards, as in the paper).
    """

    def __init__(
        self,
        stimuli: TorchStimuli,
        batch_size: int,
        seed: int = 0,
        curriculum_steps: int = 0,
    ):
        super().__init__(batch_size, seed)
        if curriculum_steps < 0:
            raise ValueError(f"curriculum_steps must be >= 0, got {curriculum_steps}")
        self.stimuli, self.curriculum_steps = stimuli, curriculum_steps
        self._generator = torch.Generator(device=stimuli.device)

    def generator(self, step: int) -> torch.Generator:
        """The stream's one generator (on the stimuli's device), seeded for batch ``step``."""
        return self._generator.manual_seed(self.batch_seed(step))

    def draw(self, step: int) -> Stimuli:
        clutter = (
            min(1.0, step / self.curriculum_steps) if self.curriculum_steps else 1.0
        )
        return self.stimuli(
            self.batch_size, generator=self.generator(step), clutter=clutter
        )
