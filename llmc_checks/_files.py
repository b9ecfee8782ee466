"""The one way a file is written (baselines, reports, recordings): whole or not at all.

The text goes to a temporary file with a unique name beside the target, is flushed to
disk, then replaces the target in one step; on any failure the temporary file is
removed and the old target is left as it was. `exclusive=True` (a starter checks file)
never replaces: the temporary file is hard-linked to the target, which fails if the
target exists, even one created a moment earlier by another process. A new file gets
the mode a plain `open(path, "w")` would give it (0666 less the umask); a replaced file
keeps its mode.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "write_text"]

# link() is not supported everywhere (some network and FUSE file systems).
_NO_LINK = {errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


@contextmanager
def atomic_write(path: Path, *, exclusive: bool = False) -> Iterator[IO[bytes]]:
    """A binary file that becomes `path` when the block ends without an exception;
    with `exclusive`, FileExistsError (and nothing written) when `path` exists."""
    if exclusive and path.exists():
        raise FileExistsError(errno.EEXIST, "File exists", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            _link(tmp, path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def write_text(path: Path, text: str, *, exclusive: bool = False) -> None:
    with atomic_write(path, exclusive=exclusive) as fh:
        fh.write(text.encode("utf-8"))


def _link(tmp: Path, path: Path) -> None:
    """Make `tmp` appear as `path` unless `path` exists (then FileExistsError)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        # No hard links here: check and rename, a narrow race instead of none.
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _create_beside(path: Path) -> tuple[int, Path]:
    # O_CREAT with 0o666: the kernel applies the umask, as for any new file (mkstemp
    # would make it 0600). O_EXCL and a random name: no two writers share a temp file.
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:
            continue


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
