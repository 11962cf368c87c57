"""Checksums and atomic writes: nothing edgernn writes is ever left half-written."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError

_CHUNK_BYTES = 1 << 20
_NAME_MAX_BYTES = 255  # the longest file name most file systems take (ext4, xfs, btrfs, APFS)
_TEMP_EXTRA = len("..") + 8 + len(".tmp")  # ".<stem>.XXXXXXXX.tmp": mkstemp adds 8 random characters


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def temp_stem(name: str, extra: int = _TEMP_EXTRA) -> str:
    """``name`` cut so that a temp name built from it, ``extra`` bytes longer, still fits in 255 bytes:
    a valid output name always has a valid temp name (the final name is never cut)."""
    room = _NAME_MAX_BYTES - extra
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return name


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def unwritable_file(path: str | os.PathLike[str]) -> str | None:
    """Why a file may not be written at ``path`` (``"a FIFO"``, ``"a link to a folder"``), or None.

    The rule for every output file: a new path or a regular file is replaced; a link is written
    through only when it ends at a regular file (the target is replaced, the link stays); anything
    else (a folder, a device, a FIFO, a socket, a link to one of them or to nothing) is refused."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        try:
            target = os.stat(path).st_mode
        except OSError:
            return "a link to nothing"
        return None if stat.S_ISREG(target) else f"a link to {_kind(target)}"
    return None if stat.S_ISREG(mode) else _kind(mode)


def unwritable_folder(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` may not be made or replaced as an output folder (``"a link"``, ``"a FIFO"``),
    or None: a folder output is a new path or a real folder, never a link (to anything)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISDIR(mode):
        return None
    return "a regular file" if stat.S_ISREG(mode) else _kind(mode)


def output_target(path: str | os.PathLike[str]) -> Path:
    """The file that writing ``path`` replaces: ``path`` itself, or the regular file a link ends at;
    :class:`InputError` for anything :func:`unwritable_file` refuses."""
    why = unwritable_file(path)
    if why is not None:
        raise InputError(f"{path}: is {why}; expected a new path, a regular file or a link to one")
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temp file beside the file it replaces, fsync it, then rename it into place
    (through a link to a regular file, onto its target; see :func:`unwritable_file`)."""
    path = output_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{temp_stem(path.name)}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; artifacts are read by other users and tools
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_figure(figure: Any, path: str | os.PathLike[str], **savefig: Any) -> Path:
    """A matplotlib figure as PNG through :func:`atomic_write_bytes` (``savefig`` would open the path
    itself: a FIFO would block, a link to a device would be written)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **savefig)
    return atomic_write_bytes(path, buffer.getvalue())


@contextmanager
def folder_lock(root: str | os.PathLike[str], *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on the folder ``root`` itself (``flock`` on its fd): writers of
    one folder take turns (``wait``), or a second one is refused in one line (``wait=False``:
    :class:`InputError`). Readers are never blocked, and a killed writer's lock goes with it.
    An ``OSError`` opening ``root`` (missing, not a folder) is the caller's to phrase."""
    import fcntl

    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise InputError(
                f"{root}: another edgernn process is writing this folder now; expected one writer at a "
                "time (wait for it to finish, or choose another folder)"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def staged_dir(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; on success it replaces ``final`` in one rename.

    On any error the temp folder is removed and ``final`` is left as it was.
    """
    final = Path(final)
    why = unwritable_folder(final)
    if why is not None:
        raise InputError(f"{final}: is {why}; expected a new path or a folder to replace")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{temp_stem(final.name)}.", suffix=".tmp", dir=final.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes 0700
        yield tmp
        if not final.exists():
            os.replace(tmp, final)
        elif exchange(tmp, final):  # one atomic step: ``final`` is never missing, even in a crash
            shutil.rmtree(tmp, ignore_errors=True)  # it now holds the old contents
        else:
            old = final.with_name(f".{temp_stem(final.name, 32)}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or file system cannot, so the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(a), None, os.fspath(b))
