"""The authors' published weights (OSF project pf4u5): download, check, load into the course model.

Each file is a PyTorch state_dict of the authors' ``RNNet_all`` with both modulation branches
stored (25,146,088 float32 parameters, 100,598,907 bytes); the disabled branch was never trained
and is dropped on loading. Every file, downloaded or saved by hand, is checked against its known
size and, where known, its SHA-256 before anything is loaded; a mismatch raises an error that
names the file. We could not reach OSF while writing the course, so the SHA-256 of the files is
not recorded yet: the loader prints the hash it computed, so that it can be pinned in
``PUBLISHED`` (pass ``sha256=`` to check it yourself). :func:`published_or_none` is the lesson's
entry: the network, or ``None`` and a message that says how to get the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from ..paths import output_folder
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


def published_path(model: str = "0111", folder: str | Path | None = None) -> Path:
    """Where the authors' weights of ``model`` are kept: ``folder/rnn_bglt_{model}_t_4_num_1.pth``
    (the authors' file name); ``folder`` defaults to the repository's ``checkpoints/`` (beside the
    lessons' training checkpoints; ``./checkpoints`` outside the repository)."""
    if model not in PUBLISHED:
        raise ValueError(f"model must be one of {sorted(PUBLISHED)}, got {model!r}")
    folder = output_folder("checkpoints") if folder is None else Path(folder)
    return folder / f"rnn_bglt_{model}_t_4_num_1.pth"


def how_to_get(model: str = "0111", folder: str | Path | None = None) -> str:
    """What to do to use the authors' ``model`` without internet access here."""
    spec, path = PUBLISHED[model], published_path(model, folder)
    return (
        f"To analyse the authors' {model} network, download {spec.url} "
        f"({spec.size:,} bytes; OSF project pf4u5, file rnn_bglt_{model}_t_4_num_1.pth) on a "
        f"machine with internet access and save it as {path.resolve()}; its size (and SHA-256, "
        "where one is recorded) is checked before it is loaded."
    )


def fetch(
    model: str = "0111",
    folder: str | Path | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
    download: bool = True,
) -> Path:
    """The checked path of the authors' weights of ``model`` in ``folder``, downloaded once if missing.

    Raises ``FileNotFoundError`` (missing, ``download=False``) or ``ConnectionError`` (the download
    failed), each with :func:`how_to_get`; ``ValueError`` when the file's size or SHA-256 is wrong.
    """
    path = published_path(model, folder)
    spec = PUBLISHED[model]
    sha256 = sha256 or spec.sha256
    if not path.is_file():
        if not download:
            raise FileNotFoundError(
                f"{path} does not exist. {how_to_get(model, folder)}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False)
        try:
            with urllib.request.urlopen(spec.url, timeout=timeout) as response, tmp:
                shutil.copyfileobj(response, tmp)
        except OSError as error:
            os.unlink(tmp.name)
            raise ConnectionError(
                f"could not download the authors' weights from {spec.url} ({error}). "
                f"{how_to_get(model, folder)}"
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
    model: str = "0111",
    folder: str | Path | None = None,
    sha256: str | None = None,
    download: bool = True,
) -> RecurrentCNN:
    """The authors' trained network ``model`` (``"0111"`` gain, ``"1011"`` additive) as a course model,
    in eval mode, from ``folder`` (downloaded there once if missing and ``download``; see :func:`fetch`)."""
    path = fetch(model, folder, sha256, download=download)
    bias, gain, lateral, topdown = (c == "1" for c in model)
    net = RecurrentCNN(8, 4, bias=bias, gain=gain, lateral=lateral, topdown=topdown)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return load_authors_state_dict(net, state).eval()


def published_or_none(
    model: str = "0111",
    folder: str | Path | None = None,
    sha256: str | None = None,
    download: bool = True,
    device=None,
) -> RecurrentCNN | None:
    """:func:`load_published` on ``device``, or ``None`` with a message that says how to get the file
    when it is missing and cannot be downloaded. A file of the wrong size or SHA-256 still raises."""
    try:
        net = load_published(model, folder, sha256, download)
    except (ConnectionError, FileNotFoundError) as error:
        print(f"The authors' {model} network is not available: {error}")
        return None
    print(f"loaded the authors' {model} network from {published_path(model, folder)}")
    return net.to(device) if device is not None else net
