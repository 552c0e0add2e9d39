"""Atomic file writes: a crash or Ctrl-C never leaves a half-written file in a run directory.

Every file is written to a temporary name in the same directory (same file system, so the rename
is atomic), flushed to disk, then moved over the target with `os.replace`. A failed write removes
its temporary file, so a run directory never collects `.tmp` debris.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

TMP_PREFIX = ".archzoo-tmp-"
_UMASK = os.umask(0)  # read once: the only way to learn it is to set it
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make results private to the writer
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:  # the writer may have closed its handle: fsync by reopening
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write `path` with a library call that takes a file name (savefig, save_file)."""
    with atomic_path(path) as tmp:
        writer(tmp)


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
