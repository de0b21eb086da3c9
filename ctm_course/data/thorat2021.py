"""The published results of Thorat, Aldegheri & Kietzmann (2021), for comparison plots.

The authors' repository (KietzmannLab/svrhm21_RNN_explain, MIT licence) holds 20 result arrays in
``analyses/``: decoding accuracies (``dec_acc*.npy``) and perturbation accuracies
(``fb_perturb-*.npy``) of 5 seeds of the gain (``0111``) and additive (``1011``) networks.
:func:`summarise` reduces them to the few numbers a lesson draws; the package ships that summary
(``thorat2021.json``, made by ``python -m ctm_course.data.thorat2021``), so the plots work
without the arrays. :func:`paper_numbers` reads the arrays when they are found (``root``, or
``$CTM_COURSE_DATA/thorat2021-analyses``) and the shipped summary otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ATTRIBUTION = (
    "Thorat, Aldegheri & Kietzmann (2021), arXiv:2111.07898; numbers computed from the arrays in "
    "github.com/KietzmannLab/svrhm21_RNN_explain/analyses (MIT licence)"
)
SHIPPED = Path(__file__).with_name("thorat2021.json")
MODELS = ("0111", "1011")
SEEDS = (1, 2, 3, 4, 5)
LAYERS = ("Input", "Conv1", "Conv2", "FC")
# the 6 decoded variables, in the arrays' order
DECODED = ("category", "pos_x", "pos_y", "scale", "orientation", "domain")
GROUPS = {"Category": (0,), "Location": (1, 2), "Scale": (3,), "Orientation": (4,)}
# the 6 perturbation variants, in the arrays' order, and the paper's groups of them
PERTURB_GROUPS = {
    "Location": (0, 1),
    "Orientation": (2,),
    "Scale": (3,),
    "Category": (4, 5),
}


def analyses_dir(root: str | Path | None = None) -> Path | None:
    """The folder with the authors' arrays, or ``None``."""
    candidates = [Path(root)] if root else []
    if os.environ.get("CTM_COURSE_DATA"):
        candidates.append(Path(os.environ["CTM_COURSE_DATA"]) / "thorat2021-analyses")
    for folder in candidates:
        if (folder / "dec_accrnn_bglt_0111_t_4_num_1.npy").is_file():
            return folder
    return None


def read_arrays(path: str | Path) -> list[np.ndarray]:
    """Every array of a file written with successive ``np.save`` calls (no pickle)."""
    arrays = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while f.tell() < size:
            arrays.append(np.load(f, allow_pickle=False))
    return arrays


def _mean_ci(per_seed: np.ndarray) -> tuple[list, list]:
    mean = per_seed.mean(0)
    ci = 1.96 * per_seed.std(0) / np.sqrt(len(per_seed))
    return np.round(mean, 5).tolist(), np.round(ci, 5).tolist()


def summarise(folder: str | Path, model: str = "0111") -> dict[str, Any]:
    """The numbers the lesson compares with, from the authors' arrays of ``model`` (5 seeds)."""
    folder = Path(folder)
    dec, out, flows, original, perturbed = [], [], [], [], []
    for seed in SEEDS:
        d, o, f = read_arrays(folder / f"dec_accrnn_bglt_{model}_t_4_num_{seed}.npy")
        dec.append(d.mean(-1))  # (4 layers, 4 t, 6 vars, 2 image types)
        out.append(o.mean(-1))  # (2,)
        flows.append(f.mean(-1))  # (4 layers, 3 T, 2 branches, 6 vars)
        a, p = read_arrays(folder / f"fb_perturb-rnn_bglt_{model}_t_4_num_{seed}.npy")
        original.append(a.mean())
        perturbed.append(p.mean(-1))  # (6 variants, 2 conditions, 4 layers, 3 T)
    dec, out, flows, perturbed = map(np.stack, (dec, out, flows, perturbed))
    original = np.array(original)
    decoding, flow_decoding = {}, {}
    for group, idx in GROUPS.items():
        # cluttered images
        decoding[group] = _mean_ci(dec[:, :, :, list(idx), 0].mean(-1))
        flow_decoding[group] = {
            branch: _mean_ci(flows[:, :, :, b, list(idx)].mean(-1))
            for b, branch in enumerate(("bias", "gain"))
        }
    aux = np.stack(
        [
            dec[:, :, :, list(GROUPS[g]), 0].mean(-1)
            for g in ("Location", "Scale", "Orientation")
        ]
    )
    importance = {
        group: _mean_ci(
            ((perturbed[:, list(idx), 1] - perturbed[:, list(idx), 0]).mean(1))
            / original[:, None, None]
        )
        for group, idx in PERTURB_GROUPS.items()
    }
    return {
        "source": ATTRIBUTION,
        "model": model,
        "seeds": len(SEEDS),
        "layers": list(LAYERS),
        "cluttered_accuracy": round(float(out[:, 0].mean()), 5),
        "clean_accuracy": round(float(out[:, 1].mean()), 5),
        "aux_decoding_through_time": np.round(aux.mean(axis=(0, 1, 2)), 5).tolist(),
        "aux_decoding_through_depth": np.round(aux.mean(axis=(0, 1, 3)), 5).tolist(),
        "decoding": {g: {"mean": m, "ci": c} for g, (m, c) in decoding.items()},
        "flow_decoding": {
            g: {b: {"mean": m, "ci": c} for b, (m, c) in v.items()}
            for g, v in flow_decoding.items()
        },
        "perturbation_original_accuracy": round(float(original.mean()), 5),
        "functional_importance": {
            g: {"mean": m, "ci": c} for g, (m, c) in importance.items()
        },
    }


def paper_numbers(
    model: str = "0111", root: str | Path | None = None
) -> dict[str, Any]:
    """:func:`summarise` of the authors' arrays where found, else the summary shipped with the package.

    ``decoding[group]["mean"]`` is ``[4 layers][4 timesteps]``, ``functional_importance[group]["mean"]``
    ``[4 layers][3 steps T = 2..4]``; ``ci`` holds the 95% half-widths over the 5 seeds.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    folder = analyses_dir(root)
    if folder is not None:
        return summarise(folder, model)
    return json.loads(SHIPPED.read_text())[model]


def main() -> None:
    """Write the shipped summary from the arrays (``$CTM_COURSE_DATA/thorat2021-analyses``)."""
    folder = analyses_dir()
    if folder is None:
        raise SystemExit("set CTM_COURSE_DATA to a folder with thorat2021-analyses/")
    SHIPPED.write_text(
        json.dumps({m: summarise(folder, m) for m in MODELS}, indent=1) + "\n"
    )
    print(f"wrote {SHIPPED}")


if __name__ == "__main__":
    main()
