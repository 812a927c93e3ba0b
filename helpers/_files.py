"""Atomic writes: a file shows up under its final name only once it is complete.

Everything is first written to a hidden ``.<name>.<random>.helpers.partial`` file in the target
folder (same file system, so the final ``os.replace`` is atomic), flushed and fsynced, then renamed.
On any error, KeyboardInterrupt included, the partial file is removed and an older file under the
final name is left as it was. Files get the usual permissions (``0o666`` minus the umask), like
``np.save`` or ``open`` would give them.

An output folder that one run fills with several files is held with ``locked_folder``: a lock
file (``.helpers.lock``, removed at the end) that a second process cannot take, and the hidden
``.partial`` files a killed run left behind are removed when the lock is taken.

>>> save_npy("features/labels.npy", labels)
>>> write_json("features/run.json", {"accuracy": 0.91})
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import filelock
import numpy as np

_MODES = ("w", "wb")
LOCK_FILE = ".helpers.lock"
# What create_temp names, and nothing a user would: a user's own ".x.1234abcd.partial" is kept.
_PARTIAL = re.compile(r"\..+\.[0-9a-f]{8}\.helpers\.partial")


class FolderBusyError(RuntimeError):
    """Another process holds the lock of an output folder (see ``locked_folder``)."""


def create_temp(folder: str | os.PathLike, name: str, mode: str = "wb") -> tuple[Path, IO]:
    """A new hidden ``.<name>.<random>.helpers.partial`` file in ``folder``, opened exclusively.

    The caller closes the file and renames or removes it. (Not tempfile.mkstemp: its files are
    private, 0600, and renamed into place they would stay unreadable to other users.)

    >>> temp, file = create_temp("features", "wide.npy")   # .wide.npy.1f2e3d4c.helpers.partial
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}; got {mode!r}")
    folder = Path(folder)
    encoding = None if "b" in mode else "utf-8"
    while True:
        path = folder / f".{name}.{secrets.token_hex(4)}.helpers.partial"
        try:
            return path, open(path, mode.replace("w", "x"), encoding=encoding)  # noqa: SIM115
        except FileExistsError:
            continue


def fsync_and_close(file: IO) -> None:
    """Flush ``file`` to the disk (not just to the OS) and close it.

    >>> fsync_and_close(file)
    """
    file.flush()
    os.fsync(file.fileno())
    file.close()


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open ``path`` for writing; it is replaced only when the ``with`` block ends without error.

    >>> with atomic_open("out/table.csv", "w") as f:
    ...     f.write("a,b\\n")
    """
    path = Path(path)
    check_target(path)
    temp, file = create_temp(path.parent, path.name, mode)
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def check_target(path: Path) -> None:
    """An error naming ``path`` if no file can be written there: it is a folder, or its folder
    is missing or a file (instead of the OS's error about our hidden temporary name)."""
    if path.is_dir():
        raise IsADirectoryError(
            f"{str(path)!r} is a folder; a file cannot be written in its place: name the file "
            "to write"
        )
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(
            f"cannot write {str(path)!r}: {str(path.parent)!r} is a file, not a folder"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: {str(path.parent)!r} does not exist")


def write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> None:
    """``json.dump(obj)`` into ``path`` atomically (nothing is written if ``obj`` is not JSON:
    NaN and inf are refused, as JSON has no such numbers and other readers fail on them).

    >>> write_json("out/index.json", {"samples": 3})
    """
    try:  # fails before any file exists
        text = json.dumps(obj, indent=indent, allow_nan=False)
    except ValueError as error:
        raise ValueError(
            f"{Path(path).name}: NaN or inf cannot be written as JSON ({error})"
        ) from None
    with atomic_open(path, "w") as file:
        file.write(text)


def save_npy(path: str | os.PathLike, array: Any) -> None:
    """``np.save`` one whole array atomically, exactly at ``path`` (no ``.npy`` is appended).

    Object arrays are refused (they would need pickle to load).

    >>> save_npy("out/labels.npy", np.arange(3))
    >>> np.load("out/labels.npy")   # array([0, 1, 2])
    """
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise TypeError(
            f"save_npy writes numeric/string arrays only; got dtype {array.dtype} (object "
            "arrays need pickle to load): convert it, e.g. np.asarray(x, dtype=float)"
        )
    with atomic_open(path, "wb") as file:
        np.save(file, array, allow_pickle=False)


def stale_partials(folder: str | os.PathLike) -> list[Path]:
    """The hidden ``.<name>.<random>.helpers.partial`` files in ``folder`` (left by a killed run,
    or being written by a live one: only call it while holding ``locked_folder(folder)``).

    >>> [p.name for p in stale_partials("features")]   # ['.extractor.npy.1f2e3d4c.helpers.partial']
    """
    return sorted(p for p in Path(folder).iterdir() if _PARTIAL.fullmatch(p.name) and p.is_file())


@contextmanager
def locked_folder(folder: str | os.PathLike, name: str = "out_dir") -> Iterator[None]:
    """Create ``folder`` if needed and hold its lock for the ``with`` block; on entry, remove (and
    warn about) the ``.partial`` files a killed run left behind.

    A second process asking for the same folder gets FolderBusyError at once (no waiting); the
    same thread may nest ``locked_folder`` calls on one folder. The lock is an OS file lock on
    the hidden ``.helpers.lock``, removed when the block ends; a killed process releases the
    lock and leaves the file, which the next run reuses and removes.

    >>> with locked_folder(Path("features")):
    ...     save_npy("features/labels.npy", labels)
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{name} {str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise type(error)(f"{name} {str(folder)!r} cannot be created: {error}") from error
    lock = filelock.FileLock(folder.resolve() / LOCK_FILE, is_singleton=True)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        raise FolderBusyError(
            f"{name} {str(folder)!r} is in use by another run (it holds {LOCK_FILE} in that "
            "folder); wait for it to finish, or choose another folder"
        ) from None
    except OSError as error:
        raise type(error)(f"{name} {str(folder)!r} is not writable: {error}") from error
    outermost = lock.lock_counter == 1
    try:
        if outermost:  # nothing of ours is being written: every .partial is a killed run's
            _remove_stale(folder)
        yield
    finally:
        if outermost:  # removed while still held; a process that opened the old file before
            # then sees it was unlinked (filelock checks) and tries again or fails as busy
            with contextlib.suppress(OSError):
                (folder / LOCK_FILE).unlink()
        lock.release()


def _remove_stale(folder: Path) -> None:
    stale = stale_partials(folder)
    if not stale:
        return
    size = sum(p.stat().st_size for p in stale)
    for path in stale:
        path.unlink(missing_ok=True)
    names = ", ".join(p.name for p in stale[:5]) + (" ..." if len(stale) > 5 else "")
    warnings.warn(
        f"removed {len(stale)} unfinished temporary file(s) ({size} bytes) that an interrupted "
        f"earlier run left in {str(folder)!r}: {names}",
        stacklevel=4,
    )
