"""The authors' published weights (OSF project pf4u5): download, check, load into the course model.

Each file is a PyTorch state_dict of the authors' ``RNNet_all`` with both modulation branches
stored (25,146,088 float32 parameters, 100,598,907 bytes); the disabled branch was never trained
and is dropped on loading. A download is checked against the file's known size and, where known,
its SHA-256; a mismatch raises before anything is loaded. We could not reach OSF while writing
the course, so the SHA-256 of the files is not recorded yet: the loader prints the hash it
computed, so that it can be pinned in ``PUBLISHED`` (pass ``sha256=`` to check it yourself).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from ..pretrained import sha256_of
from .model import RecurrentCNN


@dataclass(frozen=True)
class PublishedWeights:
    url: str
    size: int
    sha256: str | None = None


PUBLISHED = {
    # the file names the authors use: rnn_bglt_{bias}{gain}{lateral}{topdown}_t_4_num_1.pth
    "0111": PublishedWeights("https://osf.io/wxmkv/download", 100_598_907),
    "1011": PublishedWeights("https://osf.io/98tgk/download", 100_598_907),
}


def verify(path: str | Path, size: int | None = None, sha256: str | None = None) -> str:
    """Check a file's size and SHA-256; returns the SHA-256. Raises ``ValueError`` on a mismatch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ValueError(
            f"{path.name}: size {actual_size:,} bytes, expected {size:,}: the download is incomplete "
            f"or not the published file. Delete it and try again."
        )
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256.lower():
        raise ValueError(
            f"{path.name}: SHA-256 {digest} does not match the expected {sha256}: the file is corrupt "
            f"or not the published one. Delete it and try again."
        )
    return digest


def fetch(
    model: str = "0111",
    folder: str | Path = "checkpoints",
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the authors' weights of ``model`` into ``folder`` (once) and check them; returns the path."""
    if model not in PUBLISHED:
        raise ValueError(f"model must be one of {sorted(PUBLISHED)}, got {model!r}")
    spec = PUBLISHED[model]
    sha256 = sha256 or spec.sha256
    path = Path(folder) / f"rnn_bglt_{model}_t_4_num_1.pth"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False)
        try:
            with urllib.request.urlopen(spec.url, timeout=timeout) as response, tmp:
                shutil.copyfileobj(response, tmp)
        except OSError as error:
            os.unlink(tmp.name)
            raise ConnectionError(
                f"could not download the authors' weights from {spec.url} ({error}). This needs internet access "
                f"(OSF project pf4u5); without it, train the network in the lesson instead."
            ) from None
        try:
            verify(tmp.name, spec.size, sha256)
        except ValueError:
            os.unlink(tmp.name)
            raise
        os.replace(tmp.name, path)
    digest = verify(path, spec.size, sha256)
    if sha256 is None:
        print(
            f"{path.name}: SHA-256 {digest} (no reference hash recorded; size checked)"
        )
    return path


def load_authors_state_dict(
    model: RecurrentCNN, state_dict: dict[str, torch.Tensor]
) -> RecurrentCNN:
    """Load an ``RNNet_all`` state_dict into ``model``, dropping the modules ``model`` does not build.

    Raises ``ValueError`` when a module that ``model`` needs is missing or has another shape.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    wrong = [k for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or wrong:
        raise ValueError(
            f"the state_dict does not fit this model ({model.name}, n_feats={model.n_feats}, "
            f"t_steps={model.t_steps}): missing {missing[:5]}, wrong shape {wrong[:5]}"
        )
    model.load_state_dict({k: state_dict[k] for k in own})
    return model


def load_published(
    model: str = "0111", folder: str | Path = "checkpoints", sha256: str | None = None
) -> RecurrentCNN:
    """The authors' trained network ``model`` (``"0111"`` gain, ``"1011"`` additive) as a course model, in eval mode."""
    path = fetch(model, folder, sha256)
    bias, gain, lateral, topdown = (c == "1" for c in model)
    net = RecurrentCNN(8, 4, bias=bias, gain=gain, lateral=lateral, topdown=topdown)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return load_authors_state_dict(net, state).eval()
