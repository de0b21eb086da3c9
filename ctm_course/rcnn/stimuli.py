"""Cluttered-object stimuli of Thorat, Aldegheri & Kietzmann (2021), faithful NumPy/SciPy version.

Each 100x100 image holds 8 MNIST or Fashion-MNIST objects, two per quadrant. Objects 0-3 are drawn
first, 4-7 on top; object ``i`` sits in slot ``i % 4`` with centre (row, col) in
``SLOT_CENTRES``. One of objects 4-7 is the **target**: it stays intact; every other object is
zoomed, rotated and then cut into a 3x3 grid of cells that are shuffled (clutter). Every object is
zoomed by U(0.8, 1.0) or U(1.4, 1.6), rotated by +U(25, 35) or -U(25, 35) degrees (cubic
``scipy.ndimage`` interpolation, size kept), min-max normalised and composited with its own
intensity as alpha (``canvas = (1 - a) canvas + a * a``); the canvas is min-max normalised last.

A scene's random choices are kept in a :class:`Scene`, so that the same scene can be rendered
again with one thing changed (the perturbation variants in :mod:`ctm_course.rcnn.variants`) and
by the vectorised torch renderer (:mod:`ctm_course.rcnn.torch_stimuli`), which tests compare with
this one. Labels (all ``(N,)`` int64): ``category`` 0-19 (MNIST digit d -> d, Fashion-MNIST class
c -> 10 + c), ``pos_x`` column (0 left, 1 right), ``pos_y`` row (0 top, 1 bottom), ``scale``
(0 small, 1 large), ``orientation`` (0: +30 degrees, 1: -30 degrees), ``domain`` (0 MNIST, 1 FMNIST).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.mnist import FASHION_MNIST_SPEC, MNIST_SPEC

CANVAS = 100
N_OBJECTS = 8
# (row, col) of slot i % 4, as in the paper's code
SLOT_CENTRES = (
    (25, 25),
    (75, 25),
    (25, 75),
    (75, 75),
)
ZOOM_LEVELS = (0.9, 1.5)  # +- 0.1 (uniform)
ANGLE = 30.0  # +- 5 degrees (uniform), sign chosen per object
SPLITS = ("train", "validation", "test")
AUX_VARIABLES = ("pos_x", "pos_y", "scale", "orientation")
VARIABLES = ("category",) + AUX_VARIABLES + ("domain",)
CLASS_NAMES = list(MNIST_SPEC.classes + FASHION_MNIST_SPEC.classes)


@dataclass
class ObjectSources:
    """The object images of one split: MNIST (domain 0) and Fashion-MNIST (domain 1).

    ``images[d]``: ``(N_d, 28, 28)`` float32 in [0, 1]; ``labels[d]``: ``(N_d,)`` int64 (0-9).
    """

    images: tuple[np.ndarray, np.ndarray]
    labels: tuple[np.ndarray, np.ndarray]
    split: str = "train"
    source: str = "sample"

    def __post_init__(self) -> None:
        for d in (0, 1):
            if self.images[d].ndim != 3 or self.images[d].shape[1:] != (28, 28):
                raise ValueError(
                    f"ObjectSources: images[{d}] must be (N, 28, 28), got {self.images[d].shape}"
                )
            if len(self.images[d]) != len(self.labels[d]) or len(self.labels[d]) == 0:
                raise ValueError(
                    f"ObjectSources: images[{d}] and labels[{d}] must be non-empty and match"
                )


def load_sources(
    split: str = "train", root=None, verbose: bool = False
) -> ObjectSources:
    """MNIST + Fashion-MNIST objects of ``split`` (``train``, ``validation`` or ``test``).

    As in the paper's code, the validation split is the end of the training set: the last 1/12
    of it (5,000 of 60,000 images; 416 of the offline 5,000-digit MNIST subset).
    """
    from ..data import load_fashion_mnist, load_mnist, worst_source

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images, labels, kinds = [], [], []
    for loader in (load_mnist, load_fashion_mnist):
        data = loader(train=split != "test", root=root, verbose=verbose)
        x, y = data.images[:, 0].numpy(), data.labels.numpy()
        if split != "test":
            n_val = len(x) // 12
            x, y = (
                (x[:-n_val], y[:-n_val])
                if split == "train"
                else (x[-n_val:], y[-n_val:])
            )
        images.append(np.ascontiguousarray(x, dtype=np.float32))
        labels.append(y.astype(np.int64))
        kinds.append(data.source)
    # the less complete of the two sources names both
    return ObjectSources(
        (images[0], images[1]),
        (labels[0], labels[1]),
        split=split,
        source=worst_source(kinds),
    )


@dataclass
class Scene:
    """Every random choice of one image. Arrays have one entry per object (8)."""

    target: int  # 4..7
    domain: np.ndarray  # (8,) 0 MNIST, 1 Fashion-MNIST
    index: np.ndarray  # (8,) index into that domain's images
    zoom: np.ndarray  # (8,) zoom factor
    angle: np.ndarray  # (8,) rotation in degrees (scipy.ndimage.rotate convention)
    perm: np.ndarray  # (8, 9) cell permutation (ignored for the target)
    centre: np.ndarray  # (8, 2) integer (row, col)
    # (8,) zoom level 1.5
    large: np.ndarray = field(default_factory=lambda: np.zeros(8, bool))
    # (8,) the -30 degree level
    clockwise: np.ndarray = field(default_factory=lambda: np.zeros(8, bool))


def _non_identity_permutation(rng: np.random.Generator, n: int = 9) -> np.ndarray:
    perm = np.arange(n)
    while np.all(perm == np.arange(n)):
        perm = rng.permutation(n)
    return perm


def sample_scene(
    rng: np.random.Generator, sources: ObjectSources, fixed: bool = False
) -> Scene:
    """Draw one scene in the order of the paper's generator.

    ``fixed=True`` gives the perturbation analysis' images: zoom exactly 0.8 or 1.6, rotation
    exactly +-35 degrees, centres exactly 25/75 (no jitter).
    """
    target = 4 + int(rng.integers(N_OBJECTS // 2))
    domain = (rng.random(N_OBJECTS) >= 0.5).astype(np.int64)
    index = np.zeros(N_OBJECTS, np.int64)
    zoom_, angle = np.zeros(N_OBJECTS), np.zeros(N_OBJECTS)
    large, clockwise = np.zeros(N_OBJECTS, bool), np.zeros(N_OBJECTS, bool)
    perm = np.tile(np.arange(9), (N_OBJECTS, 1))
    centre = np.zeros((N_OBJECTS, 2), np.int64)
    for i in range(N_OBJECTS):
        index[i] = rng.integers(len(sources.images[domain[i]]))
        large[i] = rng.random() > 0.5
        jitter = rng.random()
        zoom_[i] = (
            (1.6 if large[i] else 0.8)
            if fixed
            else ZOOM_LEVELS[int(large[i])] + (jitter - 0.5) / 5
        )
        clockwise[i] = rng.random() > 0.5
        jitter = rng.random()
        magnitude = 35.0 if fixed else ANGLE + (jitter - 0.5) * 10
        angle[i] = -magnitude if clockwise[i] else magnitude
        if i != target:
            perm[i] = _non_identity_permutation(rng)
        row, col = SLOT_CENTRES[i % 4]
        if not fixed:
            row, col = (
                np.round(row + (rng.random() - 0.5) * 5),
                np.round(col + (rng.random() - 0.5) * 5),
            )
        centre[i] = (int(row), int(col))
    return Scene(target, domain, index, zoom_, angle, perm, centre, large, clockwise)


def scramble(patch: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Shuffle the 3x3 grid of ``floor(s / 3)``-pixel cells of an ``(s, s)`` patch; border pixels become 0.

    Cell ``i`` is row ``i % 3``, column ``i // 3`` (column-major, as in the paper's code); output
    cell ``i`` takes input cell ``perm[i]``.
    """
    s = patch.shape[0]
    w = s // 3
    out = np.zeros_like(patch)
    for i in range(9):
        j = int(perm[i])
        out[(i % 3) * w : (i % 3) * w + w, (i // 3) * w : (i // 3) * w + w] = patch[
            (j % 3) * w : (j % 3) * w + w, (j // 3) * w : (j // 3) * w + w
        ]
    return out


def transform(obj: np.ndarray, ops: list[tuple[str, float]]) -> np.ndarray:
    """Apply ``("zoom", z)`` and ``("rotate", degrees)`` operations in order (cubic, like the paper)."""
    from scipy.ndimage import rotate, zoom

    for op, value in ops:
        obj = zoom(obj, value) if op == "zoom" else rotate(obj, value, reshape=False)
    return obj


def normalise(obj: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1] (the paper's per-object and per-canvas step)."""
    return (obj - obj.min()) / (obj.max() - obj.min())


def composite(canvas: np.ndarray, obj: np.ndarray, centre) -> None:
    """Draw ``obj`` (intensity = alpha) centred at ``centre`` (row, col) on ``canvas``, in place."""
    s0, s1 = obj.shape
    r, c = int(centre[0]), int(centre[1])
    region = (
        slice(r - s0 // 2, r + (s0 + 1) // 2),
        slice(c - s1 // 2, c + (s1 + 1) // 2),
    )
    canvas[region] = (1 - obj) * canvas[region] + obj * obj


def object_patch(scene: Scene, i: int, sources: ObjectSources) -> np.ndarray:
    """Object ``i`` of ``scene`` zoomed, rotated, scrambled (unless it is the target) and normalised."""
    obj = transform(
        sources.images[scene.domain[i]][scene.index[i]],
        [("zoom", scene.zoom[i]), ("rotate", scene.angle[i])],
    )
    if i != scene.target:
        obj = scramble(obj, scene.perm[i])
    return normalise(obj)


def render(
    scene: Scene,
    sources: ObjectSources,
    patches: dict[int, np.ndarray] | None = None,
    centres: dict[int, tuple[int, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The cluttered image and its clean twin (the target alone), each ``(100, 100)`` in [0, 1].

    ``patches``/``centres`` replace objects' normalised patches or centres (used by the variants).
    """
    patches, centres = patches or {}, centres or {}
    canvas, clean = np.zeros((CANVAS, CANVAS)), np.zeros((CANVAS, CANVAS))
    for i in range(N_OBJECTS):
        obj = patches[i] if i in patches else object_patch(scene, i, sources)
        where = centres.get(i, scene.centre[i])
        composite(canvas, obj, where)
        if i == scene.target:
            composite(clean, obj, where)
    return normalise(canvas), normalise(clean)


def scene_labels(scene: Scene, sources: ObjectSources) -> dict[str, int]:
    """The target's labels (see the module docstring)."""
    t = scene.target
    d = int(scene.domain[t])
    return {
        "category": int(sources.labels[d][scene.index[t]]) + 10 * d,
        "pos_x": (t % 4) // 2,
        "pos_y": t % 2,
        "scale": int(scene.large[t]),
        "orientation": int(scene.clockwise[t]),
        "domain": d,
    }


@dataclass
class Stimuli:
    """A batch of stimuli: ``images`` and ``clean`` ``(N, 1, 100, 100)`` float32, ``labels[var]`` ``(N,)`` int64."""

    images: torch.Tensor
    clean: torch.Tensor
    labels: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device) -> "Stimuli":
        return Stimuli(
            self.images.to(device),
            self.clean.to(device),
            {k: v.to(device) for k, v in self.labels.items()},
        )

    def __getitem__(self, index) -> "Stimuli":
        return Stimuli(
            self.images[index],
            self.clean[index],
            {k: v[index] for k, v in self.labels.items()},
        )


def generate_faithful(
    n: int, sources: ObjectSources, seed: int = 0, fixed: bool = False
) -> Stimuli:
    """``n`` stimuli made one by one as in the paper's ``gen_images`` (about 3 ms per image per core)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    images, cleans, labels = [], [], {v: [] for v in VARIABLES}
    for _ in range(n):
        scene = sample_scene(rng, sources, fixed=fixed)
        image, clean = render(scene, sources)
        images.append(image)
        cleans.append(clean)
        for k, v in scene_labels(scene, sources).items():
            labels[k].append(v)
    as_tensor = lambda a: torch.from_numpy(np.stack(a)[:, None].astype(np.float32))  # noqa: E731
    return Stimuli(
        as_tensor(images),
        as_tensor(cleans),
        {k: torch.tensor(v) for k, v in labels.items()},
    )
