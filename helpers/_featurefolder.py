"""The folder ``activations.extract_to_disk`` and ``scale.extract_to_disk`` write: one ``.npy`` per
activation, streamed batch by batch under a temporary name, then renamed into place, and
``index.json`` written last (see ``helpers.activations`` for the layout). Private: the writers'
shared parts, so that the index format is known in one place.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path

import numpy as np

from helpers._files import create_temp, fsync_and_close, write_json

INDEX_FILE = "index.json"
INDEX_VERSION = 1
OUR_FILE = re.compile(r"[\w@\[\],=-][\w@\[\],.=~-]*\.npy")  # the names file_names makes


def file_names(keys: tuple[str, ...]) -> dict[str, str]:
    """A distinct, portable ``.npy`` file name per activation (also on case-insensitive disks)."""
    names: dict[str, str] = {}
    taken: set[str] = {INDEX_FILE.lower()}
    for key in keys:
        stem = re.sub(r"[^\w@\[\],.=-]", "_", key.replace("/", "__"))
        if stem.startswith("."):  # ".hidden" or "..": not hidden, not a folder, once on disk
            stem = f"_{stem}"
        name, n = f"{stem}.npy", 1
        while name.lower() in taken:
            n += 1
            name = f"{stem}~{n}.npy"
        taken.add(name.lower())
        names[key] = name
    return names


class NpyAppender:
    """A ``.npy`` file written as a header and then each batch's bytes appended, so memory holds
    one batch at a time (the written pages of a np.memmap count towards RSS and, being dirty,
    cannot be dropped until they are written back). The header is
    rewritten with the final length at the end; numpy pads it so its size does not change.
    The CRC-32 of the bytes after the header is computed on the way (see ``index_entry``)."""

    def __init__(self, out_dir: Path, name: str, first: np.ndarray) -> None:
        self.dtype = first.dtype
        self.tail = first.shape[1:]
        self.count = 0
        self.crc32 = 0
        self.path, self.file = create_temp(out_dir, name, "wb")  # closed in finish() or abort()
        try:
            self.header_size = self._write_header()
        except BaseException:
            self.abort()
            raise

    def _write_header(self) -> int:
        self.file.seek(0)
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.count, *self.tail),
        }
        np.lib.format.write_array_header_1_0(self.file, header)
        return self.file.tell()

    def append(self, batch: np.ndarray) -> None:
        if batch.shape[1:] != self.tail:
            raise ValueError(
                f"activation changes shape between batches ({self.tail} then {batch.shape[1:]}); "
                "pad the inputs to one length to stream them into one .npy file"
            )
        data = np.ascontiguousarray(batch, dtype=self.dtype).data
        self.file.write(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        self.count += len(batch)

    def finish(self) -> int:
        """Complete the file on disk; its size in bytes."""
        self.file.flush()
        size = self.file.seek(0, os.SEEK_END)
        if self._write_header() != self.header_size:
            raise RuntimeError(f"the .npy header of {self.path.name} changed size; not written")
        fsync_and_close(self.file)
        return size

    def abort(self) -> None:
        """Close and delete the temporary file, whatever fails: on a full disk ``close()`` flushes
        the buffer and raises again (the file is closed all the same)."""
        try:
            self.file.close()
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)


def publish(
    out_dir: Path, model_name: str, names: dict[str, str], writers: dict[str, NpyAppender]
) -> dict[str, Path]:
    """Rename finished files into place and write ``index.json`` last: the one place that knows
    the index format (``extract_to_disk`` and ``helpers.scale`` both publish through it).

    The old index goes first (it must not describe the new files), then the files an earlier
    run's index listed that this run does not write.
    """
    index_path = out_dir / INDEX_FILE
    written = {name.lower() for name in names.values()}  # one file on case-insensitive disks
    stale = [name for name in indexed_files(index_path) if name.lower() not in written]
    index_path.unlink(missing_ok=True)
    paths = {}
    for key, writer in writers.items():
        paths[key] = out_dir / names[key]
        os.replace(writer.path, paths[key])
    for name in stale:
        (out_dir / name).unlink(missing_ok=True)
    index = {
        "version": INDEX_VERSION,
        "model": model_name,
        "samples": {writer.count for writer in writers.values()}.pop(),
        "activations": {
            key: {
                "file": names[key],
                "shape": [writer.count, *writer.tail],
                "dtype": writer.dtype.name,
                "samples": writer.count,
                "bytes": paths[key].stat().st_size,
                "crc32": f"{writer.crc32:08x}",
            }
            for key, writer in writers.items()
        },
    }
    write_json(index_path, index)
    return paths


def indexed_files(index_path: Path) -> list[str]:
    """The ``.npy`` names an earlier run's index lists; only names ``file_names`` could have made
    (no folder, not hidden), and none if the index is missing or unreadable."""
    try:
        entries = json.loads(index_path.read_text(encoding="utf-8"))["activations"].values()
        listed = [entry["file"] for entry in entries]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    return [n for n in listed if isinstance(n, str) and OUR_FILE.fullmatch(n)]


def refuse_existing(out_dir: Path, names: dict[str, str], overwrite: bool) -> None:
    """FileExistsError naming every output file already in ``out_dir``, unless ``overwrite``;
    IsADirectoryError for a folder under an output file's name (overwrite or not: it would
    fail only after the work, when the finished file is renamed into place)."""
    folders = [n for n in [*names.values(), INDEX_FILE] if (out_dir / n).is_dir()]
    if folders:
        raise IsADirectoryError(
            f"the output folder {str(out_dir)!r} holds folder(s) named like output files: "
            f"{', '.join(folders)}; move them away, or choose another out_dir"
        )
    if overwrite:
        return
    existing = [n for n in [*names.values(), INDEX_FILE] if (out_dir / n).exists()]
    if existing:
        raise FileExistsError(
            f"{len(existing)} output file(s) already exist in the output folder: "
            f"{', '.join(existing)}; pass overwrite=True to replace them, or choose another out_dir"
        )
