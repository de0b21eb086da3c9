"""Read and write idx files, the format MNIST and Fashion-MNIST are distributed in.

An idx file is a big-endian header followed by raw values:

* 4-byte magic: two zero bytes, one type byte (``0x08`` = uint8) and one byte giving the number
  of dimensions; so images (3 dimensions) have magic ``0x00000803 = 2051`` and labels
  (1 dimension) ``0x00000801 = 2049``;
* one 4-byte size per dimension (``N, rows, cols`` for images, ``N`` for labels);
* the values, row-major.

Files may be gzip-compressed (``*.gz``); compression is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
"""Magic number of an idx file holding uint8 images ``(N, rows, cols)``."""
LABELS_MAGIC = 2049
"""Magic number of an idx file holding uint8 labels ``(N,)``."""

# type byte -> numpy dtype (idx values are big-endian)
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The (decompressed) content of ``path``; corrupt gzip data raises ``ValueError``."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from err


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read any idx file (plain or gzip) into a numpy array.

    Args:
        path: the file.
        expected_magic: if given, the magic number the file must have (``IMAGES_MAGIC`` or
            ``LABELS_MAGIC``); anything else raises ``ValueError``.

    Returns:
        An array with the shape stored in the header (e.g. ``(N, rows, cols)`` uint8), in native
        byte order and writable.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: bad magic number, unknown value type, or a file shorter or longer than its
            header says (a truncated download, for example).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: not an idx file (only {len(data)} bytes, no header)")
    (magic,) = struct.unpack(">I", data[:4])
    if expected_magic is not None and magic != expected_magic:
        kinds = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
        want = kinds.get(expected_magic, "idx data")
        raise ValueError(
            f"{path}: bad magic number {magic} (0x{magic:08x}); an idx file of {want} "
            f"starts with {expected_magic} (0x{expected_magic:08x})"
        )
    zeros, type_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zeros != 0 or type_code not in _DTYPES or ndim == 0:
        raise ValueError(
            f"{path}: bad magic number {magic} (0x{magic:08x}); not an idx file"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: truncated idx header ({len(data)} of {header_len} bytes)"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: file {what}: header says shape {tuple(shape)} = {expected:,} bytes of data, "
            f"found {found:,}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # native order, writable copy


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an idx image file (magic 2051) into a uint8 array ``(N, rows, cols)``."""
    arr = read_idx(path, expected_magic=IMAGES_MAGIC)
    return arr


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an idx label file (magic 2049) into a uint8 array ``(N,)``."""
    return read_idx(path, expected_magic=LABELS_MAGIC)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an idx file; gzip-compressed when ``path`` ends in ``.gz``.

    Args:
        path: the file to write.
        array: uint8, ``(N, rows, cols)`` for images (magic 2051) or ``(N,)`` for labels (2049);
            any other number of dimensions works too.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx: array must be uint8, got {array.dtype}")
    if array.ndim == 0:
        raise ValueError("write_idx: array must have at least one dimension")
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
