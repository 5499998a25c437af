"""Locating and reading dataset files; every failure becomes a one-line :class:`DataError`."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Optional, Sequence

from ..errors import ConfigError, DataError

GZIP_MAGIC = b"\x1f\x8b"


def resolve_root(root: Optional[str], dataset: str, what: str) -> Path:
    """Check ``data.root`` is set and is an existing folder; return it as an absolute path.

    ``what`` describes the expected content, e.g. ``"the IDX files"``.
    """
    if root is None or str(root).strip() == "":
        raise ConfigError(
            f"data.root is not set; dataset '{dataset}' needs the folder holding {what}: "
            f"set it with --set data.root=PATH"
        )
    path = Path(str(root)).expanduser().absolute()
    if not path.exists():
        raise DataError(
            f"data.root: folder '{path}' does not exist; point data.root at the folder holding "
            f"{what} of '{dataset}' (--set data.root=PATH)"
        )
    if not path.is_dir():
        raise DataError(
            f"data.root: '{path}' is not a folder; point data.root at the folder holding "
            f"{what} of '{dataset}' (--set data.root=PATH)"
        )
    return path


def find_file(dirs: Sequence[Path], name: str, dataset: str, gz: bool, hint: str) -> Path:
    """First existing ``dir/name`` (or ``dir/name.gz`` when ``gz``) over ``dirs``.

    Raises DataError naming every path looked at; ``hint`` says how to fix it.
    """
    tried: list[str] = []
    for d in dirs:
        candidates = [d / name] + ([d / f"{name}.gz"] if gz else [])
        for cand in candidates:
            if cand.is_file():
                return cand
        tried.extend(str(c) for c in candidates)
    first = f"'{tried[0]}'" + (f" (or '{tried[1]}')" if gz else "")
    rest = tried[2:] if gz else tried[1:]
    also = f"; also looked for {', '.join(repr(t) for t in rest)}" if rest else ""
    raise DataError(f"{dataset}: missing file {first}{also}; {hint}")


def read_bytes(path: Path) -> bytes:
    """Whole file content, transparently gunzipped when named ``*.gz`` or gzip-sniffed."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"cannot read file '{path}': {exc.strerror or exc}") from exc
    if path.suffix == ".gz" or raw[:2] == GZIP_MAGIC:
        if raw[:2] != GZIP_MAGIC:
            raise DataError(
                f"file '{path}' is not a valid gzip file (bad gzip header); re-download it or "
                f"store it uncompressed without the .gz suffix"
            )
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"file '{path}' is not a valid gzip file ({exc}); re-download it"
            ) from exc
    return raw


def read_rgb(path: Path, missing: str, corrupt_fix: str):
    """The image at ``path`` as a loaded RGB PIL image (grayscale and palette images
    converted); a one-line DataError naming the file otherwise: ``missing`` follows "missing file
    '<path>'" for a file that is gone, ``corrupt_fix`` follows the reason for one Pillow cannot
    decode."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise DataError(f"missing file '{path}'{missing}") from exc
    except (PermissionError, IsADirectoryError) as exc:
        raise DataError(f"cannot read file '{path}': {exc.strerror or exc}") from exc
    except Exception as exc:  # Pillow raises many types on a corrupt or truncated file
        raise DataError(f"file '{path}' is not a readable image ({type(exc).__name__}: {exc}); "
                        f"{corrupt_fix}") from exc
