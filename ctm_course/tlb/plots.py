"""Pictures of lesson 4: patches and chunks on an image, the slow stream's attention, the comparison."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..data.cifar10 import test_transform
from ..viz.common import FONT, FONT_SMALL, FONT_TITLE, new_figure, style_axes, to_numpy

# lesson 4 draws its seed study with it
from ..viz.seeds import plot_seed_spread as plot_seed_spread


def _rgb(image: torch.Tensor, size: int) -> np.ndarray:
    """uint8 or float ``(3, H, W)`` -> ``(size, size, 3)`` float in [0, 1] (the test pipeline)."""
    return to_numpy(test_transform(image[None], size)[0].permute(1, 2, 0)).clip(0, 1)


def attention_grid(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """Slow-stream attention ``(B, T, heads, n_state, K)`` -> one value per patch ``(B, grid, grid)``.

    Per chunk: the largest weight any state vector gives each token, averaged over heads (as the
    Keras example draws it). Chunks hold consecutive row-major tokens, so the values fill the patch
    grid in reading order. Each chunk's values come from a softmax over its own ``K`` tokens.
    """
    b, t, _, _, k = maps.shape
    if t * k != grid * grid:
        raise ValueError(
            f"attention_grid: {t} chunks x {k} tokens do not fill a {grid}x{grid} patch grid"
        )
    return maps.float().amax(3).mean(2).reshape(b, grid, grid)


def plot_patches_and_chunks(
    image: torch.Tensor, image_size: int, patch_size: int, chunk_size: int
) -> Figure:
    """The image as the model sees it, with its patch grid, and the chunk each patch belongs to."""
    grid = image_size // patch_size
    fig = new_figure((10, 4.6))
    ax_img, ax_chunk = fig.subplots(1, 2)
    rgb = _rgb(image, image_size)
    ax_img.imshow(rgb, extent=(0, image_size, image_size, 0))
    for i in range(grid + 1):
        ax_img.axhline(i * patch_size, color="white", linewidth=0.8)
        ax_img.axvline(i * patch_size, color="white", linewidth=0.8)
    ax_img.set_title(
        f"{image_size} px, {grid}x{grid} patches of {patch_size} px",
        fontsize=FONT_TITLE,
    )
    ids = np.arange(grid * grid).reshape(grid, grid) // chunk_size
    ax_chunk.imshow(rgb, extent=(0, image_size, image_size, 0), alpha=0.35)
    ax_chunk.imshow(
        ids,
        extent=(0, image_size, image_size, 0),
        cmap="tab20",
        alpha=0.55,
        interpolation="nearest",
    )
    for row in range(grid):
        for col in range(grid):
            token = row * grid + col
            if token % chunk_size == 0:  # label each chunk at its first token
                ax_chunk.text(
                    (col + 0.5) * patch_size,
                    (row + 0.5) * patch_size,
                    str(token // chunk_size + 1),
                    ha="center",
                    va="center",
                    fontsize=FONT_SMALL,
                    color="black",
                    fontweight="bold",
                )
    ax_chunk.set_title(
        f"{ids.max() + 1} chunks of {chunk_size} tokens (reading order)",
        fontsize=FONT_TITLE,
    )
    for ax in (ax_img, ax_chunk):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_attention_overlay(
    images: torch.Tensor, grids: torch.Tensor, image_size: int, titles: Sequence[str]
) -> Figure:
    """Each image (top) and the slow stream's attention over its patches (bottom, all chunks)."""
    n = len(images)
    fig = new_figure((min(11.0, 1.8 * n + 0.5), 4.2))
    axes = np.atleast_2d(fig.subplots(2, n, squeeze=False))
    for i in range(n):
        rgb = _rgb(images[i], image_size)
        axes[0, i].imshow(rgb)
        axes[0, i].set_title(titles[i], fontsize=FONT_SMALL)
        axes[1, i].imshow(rgb)
        axes[1, i].imshow(
            to_numpy(grids[i]),
            cmap="inferno",
            alpha=0.6,
            interpolation="nearest",
            extent=(-0.5, image_size - 0.5, image_size - 0.5, -0.5),
        )
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[1, 0].set_ylabel("slow-stream\nattention", fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_attention_chunks(
    image: torch.Tensor,
    grid_values: torch.Tensor,
    image_size: int,
    patch_size: int,
    chunk_size: int,
    chunks: Sequence[int],
) -> Figure:
    """The slow stream reading one image chunk by chunk: panel ``t`` shows the attention of chunks
    ``1..t`` over the faded image, with chunk ``t`` outlined."""
    grid = image_size // patch_size
    values = to_numpy(grid_values)
    fig = new_figure((min(11.0, 1.9 * len(chunks)), 2.4))
    axes = np.atleast_1d(fig.subplots(1, len(chunks)))
    rgb = _rgb(image, image_size)
    order = np.arange(grid * grid).reshape(grid, grid) // chunk_size
    for ax, t in zip(axes, chunks):
        seen = np.where(order <= t - 1, values, np.nan)
        ax.imshow(rgb, alpha=0.45)
        ax.imshow(
            seen,
            cmap="inferno",
            alpha=0.75,
            interpolation="nearest",
            vmin=0,
            vmax=float(values.max()),
            extent=(-0.5, image_size - 0.5, image_size - 0.5, -0.5),
        )
        for token in range((t - 1) * chunk_size, t * chunk_size):
            row, col = divmod(token, grid)
            ax.add_patch(
                Rectangle(
                    (col * patch_size - 0.5, row * patch_size - 0.5),
                    patch_size,
                    patch_size,
                    fill=False,
                    edgecolor="cyan",
                    linewidth=1.2,
                )
            )
        ax.set_title(f"after chunk {t}", fontsize=FONT_SMALL)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_accuracy_bars(
    accuracies: Mapping[str, float], chance: float = 0.1, title: str = ""
) -> Figure:
    """Test accuracy per model as bars, with chance level."""
    fig = new_figure((6.5, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    names = list(accuracies)
    values = [accuracies[k] for k in names]
    bars = ax.bar(
        names, values, color=["#1f77b4", "#2ca02c", "#9467bd", "#8c564b"][: len(names)]
    )
    for bar, v in zip(bars, values):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            v + 0.01,
            f"{v:.3f}",
            ha="center",
            fontsize=FONT_SMALL,
        )
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
    ax.text(
        -0.45,
        chance + 0.01,
        "chance",
        ha="left",
        va="bottom",
        fontsize=FONT_SMALL,
        color="grey",
    )
    ax.set_ylabel("test accuracy", fontsize=FONT)
    ax.set_ylim(0, max(1e-3, max(values)) * 1.2)
    if title:
        ax.set_title(title, fontsize=FONT_TITLE)
    style_axes(ax)
    fig.tight_layout()
    return fig
