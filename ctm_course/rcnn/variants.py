"""Perturbation test images: each image and six variants that change only its target.

As in the paper's ``RNN_perturb.py``, these images use fixed values (zoom exactly 0.8 or 1.6,
rotation exactly +-35 degrees, centres exactly 25/75). The variants keep the clutter and change
the target's

- ``x_swap``: row: it trades places with the scrambled object in the other row (4 <-> 5, 6 <-> 7;
  the decoders' ``pos_y``; the authors call it an x swap because their ``x_loc`` is the row);
- ``y_swap``: column (4 <-> 6, 5 <-> 7; ``pos_x``);
- ``rotation``: orientation, +35 <-> -35 degrees;
- ``scale``: size, 0.8 <-> 1.6;
- ``category_within``: category: another class of the same data set, same pose;
- ``category_between``: category: a random object of the other data set, same pose.

**The authors' two bugs** (``authors_bugs=True`` keeps them, for a bit-faithful comparison with
their numbers): the rotation swap rotates the *already rotated* target back, so it ends upright
(about 0 degrees) instead of at the opposite angle; the scale swap zooms the *already zoomed*
target, so both sizes end at 0.8 * 1.6 = 1.28 instead of at the opposite level. By default both
are fixed: the swap starts again from the source image.
"""

from __future__ import annotations

import numpy as np
import torch

from .stimuli import (
    N_OBJECTS,
    VARIABLES,
    ObjectSources,
    Stimuli,
    normalise,
    render,
    sample_scene,
    scene_labels,
    transform,
)

VARIANTS = (
    "x_swap",
    "y_swap",
    "rotation",
    "scale",
    "category_within",
    "category_between",
)
#: The two sets of rotation and scale swaps: the authors' (their bugs kept) and the fixed ones.
SWAPS = ("authors", "fixed")
#: How the paper groups the variants in its Figure 4.
GROUPS = {
    "Location": ("x_swap", "y_swap"),
    "Orientation": ("rotation",),
    "Scale": ("scale",),
    "Category": ("category_within", "category_between"),
}


def _other_index(rng: np.random.Generator, labels: np.ndarray, label: int) -> int:
    index = int(rng.integers(len(labels)))
    while labels[index] == label:
        index = int(rng.integers(len(labels)))
    return index


def target_patches(
    src: np.ndarray,
    within: np.ndarray,
    between: np.ndarray,
    zoom: float,
    angle: float,
    authors_bugs: bool = False,
) -> dict[str, np.ndarray]:
    """The target's patch (before normalisation) in the original and in the variants that change its pixels."""
    other_zoom = 0.8 if zoom > 1 else 1.6
    zoomed = transform(src, [("zoom", zoom)])
    rotated = transform(zoomed, [("rotate", angle)])
    if authors_bugs:
        rotation = transform(rotated, [("rotate", -angle)])  # back to about 0 degrees
        # 0.8 * 1.6 = 1.28 either way
        scale = transform(zoomed, [("zoom", other_zoom), ("rotate", angle)])
    else:
        rotation = transform(zoomed, [("rotate", -angle)])
        scale = transform(src, [("zoom", other_zoom), ("rotate", angle)])
    return {
        "original": rotated,
        "rotation": rotation,
        "scale": scale,
        "category_within": transform(within, [("zoom", zoom), ("rotate", angle)]),
        "category_between": transform(between, [("zoom", zoom), ("rotate", angle)]),
    }


def generate_variants(
    n: int, sources: ObjectSources, seed: int = 0, authors_bugs: bool = False
) -> dict[str, Stimuli]:
    """``{"original": Stimuli, "x_swap": Stimuli, ...}``: ``n`` images and their six variants.

    Every variant keeps the original's labels (the perturbation analysis scores the network on the
    original category). ``authors_bugs`` keeps the authors' rotation and scale swap bugs.
    """
    swaps = "authors" if authors_bugs else "fixed"
    return generate_variant_sets(n, sources, seed, (swaps,))[swaps]


def generate_variant_sets(
    n: int,
    sources: ObjectSources,
    seed: int = 0,
    swaps: tuple[str, ...] = SWAPS,
) -> dict[str, dict[str, Stimuli]]:
    """``{"authors": variants, "fixed": variants}``: :func:`generate_variants` with the authors' bugs
    kept and fixed, made at once (``swaps`` picks the sets).

    The sets differ only in the rotation and scale swaps: the original, the location and the
    category variants are one shared :class:`Stimuli` each, rendered once.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not swaps or any(s not in SWAPS for s in swaps):
        raise ValueError(f"swaps must be a non-empty tuple of {SWAPS}, got {swaps!r}")
    modes = tuple(dict.fromkeys(swaps))
    rng = np.random.default_rng(seed)
    shared = ("original", "x_swap", "y_swap", "category_within", "category_between")
    out: dict[str, list] = {name: [] for name in shared}
    swapped = {(mode, name): [] for mode in modes for name in ("rotation", "scale")}
    cleans, labels = [], {v: [] for v in VARIABLES}
    for _ in range(n):
        scene = sample_scene(rng, sources, fixed=True)
        t = scene.target
        d = int(scene.domain[t])
        src = sources.images[d][scene.index[t]]
        label = int(sources.labels[d][scene.index[t]])
        within = sources.images[d][_other_index(rng, sources.labels[d], label)]
        between = sources.images[1 - d][int(rng.integers(len(sources.images[1 - d])))]
        patches = {
            mode: target_patches(
                src, within, between, scene.zoom[t], scene.angle[t], mode == "authors"
            )
            for mode in modes
        }
        first = patches[modes[0]]
        rotated = normalise(first["original"])
        image, clean = render(scene, sources, patches={t: rotated})
        out["original"].append(image)
        cleans.append(clean)
        for name, partner in (("x_swap", t ^ 1), ("y_swap", t ^ 2)):
            centres = {t: tuple(scene.centre[partner]), partner: tuple(scene.centre[t])}
            out[name].append(
                render(scene, sources, patches={t: rotated}, centres=centres)[0]
            )
        for name in ("category_within", "category_between"):
            out[name].append(
                render(scene, sources, patches={t: normalise(first[name])})[0]
            )
        for mode in modes:
            for name in ("rotation", "scale"):
                patch = normalise(patches[mode][name])
                swapped[(mode, name)].append(
                    render(scene, sources, patches={t: patch})[0]
                )
        for k, v in scene_labels(scene, sources).items():
            labels[k].append(v)
    assert N_OBJECTS == 8
    as_tensor = lambda a: torch.from_numpy(np.stack(a)[:, None].astype(np.float32))  # noqa: E731
    label_tensors = {k: torch.tensor(v) for k, v in labels.items()}
    clean = as_tensor(cleans)
    common = {
        name: Stimuli(as_tensor(images), clean, label_tensors)
        for name, images in out.items()
    }
    sets = {}
    for mode in modes:
        own = {
            name: Stimuli(as_tensor(swapped[(mode, name)]), clean, label_tensors)
            for name in ("rotation", "scale")
        }
        sets[mode] = {
            name: {**common, **own}[name] for name in ("original",) + VARIANTS
        }
    return sets
