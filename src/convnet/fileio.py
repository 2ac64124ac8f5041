"""Atomic writes: a temporary file in the same folder, fsync, then rename.

A crash mid-write leaves either the old file or the new one, never half of one. The file
gets the mode a plain open() would give it (0666 less the umask; an existing file's own
mode), not mkstemp's 0600, and a write that fails is a one-line WriteError naming the file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from convnet.errors import ConvnetError, WriteError


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then move tmp_path over path atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(f"cannot write {path} ({e.strerror or e})") from None
    os.close(fd)
    try:
        os.chmod(tmp, _mode_for(path))
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, ConvnetError):
            raise WriteError(f"cannot write {path} ({e.strerror or e})") from None
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def append_line(path, line: str) -> None:
    """Append one line and flush it to disk (metrics logs)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def _mode_for(path: Path) -> int:
    """The permission bits open() would give a new file at `path`, or the existing file's."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask can only set
    it, and setting it to read it would briefly affect every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
