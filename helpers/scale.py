"""Activation extraction on Ray Data: the folder ``activations.extract_to_disk`` writes, from many
workers, on this machine or on a cluster. Needs the ``scale`` extra: ``pip install -e .[scale]``.

How a job runs:

1. The driver checks everything before any worker starts: the ``.keras`` file loads, the token
   id files (``.npy``, as ``helpers.data.vectorize_to_npy`` writes them) fit the model, every id
   is in its Embedding's range, and the layer names exist (it runs ``activations.extract`` on one
   row).
2. The ids are cut into shards of ``shard_rows`` rows. Ray Data's ``map_batches`` hands them to
   ``workers`` tasks at a time; each worker process loads the model from the file once per job
   (and imports TensorFlow once for all jobs: Ray keeps it) and writes one ``.npz`` per shard
   into ``out_dir/.shards/`` (atomically: a shard file is there only when complete), with the
   job's random id (from ``job.json``) and a checksum of the ids rows it was made from. A shard
   that fails stops the job with the worker's error, our message first (which shard, the
   error's type and message), not Ray's wrapper.
3. The driver streams the shards, in input order, into one ``.npy`` per activation and writes
   ``index.json`` last: the same files, names and index as ``activations.extract_to_disk``. A
   shard is merged only if it is intact, carries this job's id and the checksum of its rows of
   ids as they are now; otherwise nothing is written and the error names the shard.

A re-run after a failure (a killed driver, a failed shard) keeps the shards this job already
wrote and redoes, with one warning naming each and why, any other shard file: damaged
(truncated, changed bytes), left by another job or planted, or stale (its rows of ids changed
since, even if the file kept its size and time). Ray itself restarts a worker process that dies
and retries its shard.

>>> start_local(num_cpus=2)   # this machine only; on a cluster: ray.init() connects instead
>>> paths = extract_to_disk("textcnn.keras", "ids.npy", ["extractor"], "features")
>>> np.load(paths["extractor"], mmap_mode="r").shape   # (rows of ids.npy, 100)
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import sys
import traceback
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from helpers import activations
from helpers._checks import check_bool, check_ids, check_int, check_path
from helpers._featurefolder import INDEX_FILE, NpyAppender, file_names, publish, refuse_existing
from helpers._files import atomic_open, locked_folder, write_json
from helpers.shared import layer_calls

WORK_DIR = ".shards"  # inside out_dir, removed once index.json is written
JOB_FILE = "job.json"  # in WORK_DIR: what the shards were made from, to resume only the same job
LOOPBACK = "127.0.0.1"
# Set by start_local: no usage statistics; servers on 127.0.0.1 (read when ray is imported);
# token authentication (Ray's default for a local start, set explicitly so Ray does not warn).
_LOCAL_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
}
_INSTALL = "pip install -e .[scale]"
START_ATTEMPTS = 3  # Ray starts tried by start_local before it gives up
# No idle workers started with Ray: on a busy machine they compete with Ray's agents, which
# must start within 15 s; a job starts the workers it needs. Workers at this process's priority:
# Ray runs them 15 nicer by default, and beside other busy programs (nice 0: a weight of 1024 to
# their 36 in Linux's scheduler) a worker's TensorFlow import took minutes.
_SYSTEM_CONFIG = {
    "enable_worker_prestart": False,
    "prestart_worker_first_driver": False,
    "worker_niceness": 0,
}
_RAY_STARTUP = Path(__file__).with_name("_ray_startup")  # see _ray_process_path

logger = logging.getLogger(__name__)


def _ray() -> Any:
    """The ``ray`` module with Ray Data loaded, or ImportError saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise ImportError(
            f"helpers.scale runs on Ray Data, an optional extra: {_INSTALL}"
        ) from error
    return ray


def start_local(num_cpus: int = 2) -> None:
    """Start Ray in this process for this machine only, quietly, also on a busy machine.

    Every Ray server listens on 127.0.0.1; no dashboard, no usage statistics, no progress bars,
    worker logs stay in Ray's log folder and Ray Data logs only errors. Sets the environment
    variables of ``_LOCAL_ENV`` (inherited by Ray's processes). Call it before anything imports
    ``ray`` (Ray reads its loopback setting on import), once per process. On a cluster call
    ``ray.init()`` instead (``ray job submit`` tells it the address).

    Ray's raylet gives its agent processes 15 s to start, and ``ray.init`` gives the raylet 30 s
    (neither can be changed in Ray 2.60). On a busy 2-core machine the agents' ``import ray``
    alone took longer, so Ray's processes start without the slow import they do not need
    (``helpers/_ray_startup``) and with no idle workers started in advance. If Ray still times
    out it is started again, up to START_ATTEMPTS times, then a RuntimeError says what to do.
    Its workers run at this process's priority, not Ray's default of 15 nicer.

    >>> start_local(num_cpus=2)
    """
    num_cpus = check_int("num_cpus", num_cpus)
    os.environ.update(_LOCAL_ENV)
    ray = _ray()
    if ray.is_initialized():
        raise RuntimeError(
            "Ray is already running in this process; start_local starts it: call ray.shutdown() "
            "first, or use the running Ray as it is"
        )
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            with _ray_process_path():
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    _node_ip_address=LOOPBACK,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    _system_config=_SYSTEM_CONFIG,
                )
            break
        except Exception as error:  # Ray raises a bare Exception for this
            ray.shutdown()
            if "timed out during startup" not in str(error):
                raise
            if attempt == START_ATTEMPTS:
                raise RuntimeError(
                    f"Ray did not start: its processes timed out starting {attempt} times (the "
                    "machine is too busy?). Close other programs, or wait for them, and run this "
                    "again; Ray's logs are in /tmp/ray/session_latest/logs"
                ) from None
            # info, not a warning: a notebook's output must not depend on the machine's load
            logger.info("Ray timed out starting (a busy machine?); starting it again")
    if ray.util.get_node_ip_address() != LOOPBACK:
        address = ray.util.get_node_ip_address()
        ray.shutdown()
        raise RuntimeError(
            f"Ray would listen on {address}, not {LOOPBACK}: ray was imported before start_local "
            "could set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0; call start_local in a fresh process "
            "before anything imports ray"
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


@contextlib.contextmanager
def _ray_process_path() -> Iterator[None]:
    """``helpers/_ray_startup`` first on PYTHONPATH while Ray starts its processes (they keep
    it, this process does not): their ``import ray`` then skips ``rfc3987_syntax``."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_RAY_STARTUP), before]))
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


# ---------------------------------------------------------------------------------------------
# Checks, before any worker starts
# ---------------------------------------------------------------------------------------------


def _model_file(model_path: Any) -> Path:
    """``model_path`` as an absolute Path if it names an existing ``.keras`` file."""
    if isinstance(model_path, keras.Model):
        raise TypeError(
            "model_path must be the path of a saved .keras file, not a live model: each worker "
            "loads the model from the file once. Save it first: model.save('model.keras')"
        )
    if not isinstance(model_path, (str, os.PathLike)):
        raise TypeError(
            f"model_path must be the path of a .keras file; got {type(model_path).__name__}"
        )
    path = Path(model_path)
    if path.suffix != ".keras":
        raise ValueError(
            f"model_path must be a .keras file (as model.save('name.keras') writes); got "
            f"{str(path)!r}"
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"model_path {str(path)!r} is a folder, not a .keras file (model.save('name.keras') "
            "writes one file)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"model_path {str(path)!r} does not exist or is not a file")
    return path.resolve()


def _load_model(path: Path) -> keras.Model:
    if not zipfile.is_zipfile(path):
        # Keras reports any file it cannot open as a zip as "File not found".
        raise ValueError(
            f"model_path {str(path)!r} is not a .keras file: a .keras file is a zip archive "
            "(as model.save('name.keras') writes), and this file is not one"
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:
        raise ValueError(
            f"model_path {str(path)!r} is not a loadable Keras model ({type(error).__name__}: "
            f"{error})"
        ) from error


@dataclasses.dataclass(frozen=True)
class _Ids:
    """One ``.npy`` file of ids: its absolute path, rows, and what the job records of it."""

    path: Path
    rows: int
    shape: tuple[int, ...]
    dtype: str

    def record(self) -> dict[str, Any]:
        """What job.json keeps of it; its content is checked per shard (``_rows_sha256``)."""
        return {"file": str(self.path), "shape": list(self.shape)}


def _id_files(ids: Any) -> list[_Ids]:
    """The ``.npy`` file(s) in ``ids``, checked to be non-empty and of one row shape and dtype."""
    how = "the path of a .npy file of token ids (as data.vectorize_to_npy writes), or a list"
    if isinstance(ids, (str, os.PathLike)):
        ids = [ids]
    if not isinstance(ids, (list, tuple)) or len(ids) == 0:
        empty = "an empty " if isinstance(ids, (list, tuple)) else ""
        raise TypeError(
            f"ids must be {how} of them; got {empty}{type(ids).__name__} (save an array with "
            "np.save)"
        )
    files = []
    for item in ids:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"ids must be {how} of them; the list holds {type(item).__name__}")
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"ids file {str(path)!r} does not exist or is not a file")
        try:
            array = np.load(path, mmap_mode="r")
        except ValueError as error:
            raise ValueError(f"ids file {str(path)!r} is not a .npy file ({error})") from error
        if array.ndim == 0 or len(array) == 0:
            raise ValueError(f"ids file {str(path)!r} holds no rows (shape {array.shape})")
        files.append(_Ids(path.resolve(), len(array), tuple(array.shape), array.dtype.str))
    kinds = {(f.shape[1:], f.dtype) for f in files}
    if len(kinds) > 1:
        listed = ", ".join(f"{f.path.name}: {f.shape} {f.dtype}" for f in files)
        raise ValueError(f"the ids files must share their row shape and dtype; got {listed}")
    return files


def _check_id_range(model: keras.Model, files: list[_Ids]) -> None:
    """Every id an Embedding reads from the model's input is in its range, in every file: min and
    max over the memory-mapped file, so a bad id is named here, not inside a worker's error."""
    for call in layer_calls(model):
        layer = call.layer
        if isinstance(layer, keras.layers.Embedding) and any(
            tensor is model.inputs[0] for tensor in call.inputs
        ):
            for ids in files:
                check_ids(
                    f"ids file {str(ids.path)!r}, read by Embedding {call.key!r} of model "
                    f"{model.name!r} (position [row, column] in that file)",
                    np.load(ids.path, mmap_mode="r"),
                    int(layer.input_dim),
                )


def _rows_sha256(rows: np.ndarray) -> str:
    """A checksum of some rows of ids (their shape, dtype and bytes), recorded in each shard.

    >>> _rows_sha256(np.zeros((2, 3), "int32"))[:8]
    '523c2ce2'
    """
    rows = np.ascontiguousarray(rows)
    digest = hashlib.sha256(f"{rows.shape} {rows.dtype.str}\n".encode())
    digest.update(memoryview(rows).cast("B"))
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Shards and the workers
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Shard:
    """Rows ``start:stop`` of one ids file; written to ``shard-<index>.npz``."""

    index: int
    path: str
    start: int
    stop: int

    @property
    def file(self) -> str:
        return f"shard-{self.index:06d}.npz"

    def ids(self) -> np.ndarray:
        """Its rows of ids, read from the file."""
        return np.asarray(np.load(self.path, mmap_mode="r")[self.start : self.stop])


def _plan(files: list[_Ids], shard_rows: int) -> list[_Shard]:
    """Every shard of every file, in input order; a file's last shard may be shorter."""
    shards = []
    for ids in files:
        for start in range(0, ids.rows, shard_rows):
            stop = min(start + shard_rows, ids.rows)
            shards.append(_Shard(len(shards), str(ids.path), start, stop))
    return shards


class _ShardWorker:
    """Writes the activations of the shards it gets; one per Ray worker process and job.

    Built in the worker process from these arguments (no live model is pickled), by
    ``_write_shards``, which keeps it for the job's next shards: the model is loaded once.
    """

    def __init__(
        self,
        model_path: str,
        layers: Sequence[str],
        work_dir: str,
        batch_size: int,
        backend: str,
        job: str,
    ) -> None:
        if keras.backend.backend() != backend:
            raise RuntimeError(
                f"this worker runs Keras on {keras.backend.backend()!r}, the driver on "
                f"{backend!r}: set KERAS_BACKEND={backend} on the workers"
            )
        self.model = keras.saving.load_model(model_path, compile=False)
        self.layers = list(layers)
        self.work_dir = Path(work_dir)
        self.batch_size = batch_size
        self.job = job

    def write(self, shard: _Shard) -> None:
        """Extract one shard and save it as ``arr_0, arr_1, ...`` (one per layer, in order), with
        the job's id and the checksum of the ids it was made from (see ``_read_shard``)."""
        ids = shard.ids()
        # A shard shorter than a batch (the last one) is padded to a whole batch with copies of
        # its last row, as activations.extract pads its last batch: a batch of another shape
        # runs other kernels, and the last row came out 1 ulp off in some activations.
        padding = -len(ids) % self.batch_size
        padded = np.concatenate([ids, np.repeat(ids[-1:], padding, axis=0)])
        out = activations.extract(self.model, padded, self.layers, self.batch_size)
        out = {key: value[: len(ids)] for key, value in out.items()}
        with atomic_open(self.work_dir / shard.file, "wb") as file:
            np.savez(
                file,
                *(out[key] for key in self.layers),
                **{_JOB_KEY: np.array(self.job), _IDS_KEY: np.array(_rows_sha256(ids))},
            )


_WORKER: dict[tuple, _ShardWorker] = {}  # in a Ray worker process: the latest job's worker


def _write_shards(
    batch: dict[str, np.ndarray], worker: type[_ShardWorker], arguments: tuple
) -> dict[str, np.ndarray]:
    """The Ray Data task: write the shards of ``batch`` with this process's ``worker`` for the
    job ``arguments`` describe (made at the job's first shard here, kept for the rest). A shard
    that fails gives its ``_failure`` in the ``error`` column ("" if written), not an exception:
    Ray would bury our message in its own (the driver raises it, see ``_worker_error``).

    Tasks, not an actor pool: Ray keeps a task's worker process for the next task, so a
    process imports TensorFlow and Ray Data once for all its jobs; each job of an actor pool
    started new processes, about 30 s each on a busy 2-core machine (see README).
    """
    errors = []
    columns = (batch["index"], batch["path"], batch["start"], batch["stop"])
    for index, path, start, stop in zip(*columns, strict=True):
        shard = _Shard(int(index), str(path), int(start), int(stop))
        try:
            key = (worker.__module__, worker.__qualname__, arguments)
            if key not in _WORKER:
                _WORKER.clear()  # one model in memory: the previous job's is dropped
                _WORKER[key] = worker(*arguments)
            _WORKER[key].write(shard)
            errors.append("")
        except Exception as error:
            errors.append(_failure(shard, error))
    return {"index": batch["index"], "error": np.array(errors)}


def _failure(shard: _Shard, error: Exception) -> str:
    """What the driver needs to raise a worker's ``error`` as its own (JSON)."""
    return json.dumps(
        {
            "type": type(error).__name__,
            "builtin": type(error).__module__ == "builtins",
            "message": f"shard {shard.file} (rows {shard.start}..{shard.stop - 1} of ids file "
            f"{shard.path!r}) failed in a Ray worker: {type(error).__name__}: {error}",
            "traceback": "".join(traceback.format_exception(error)),
        }
    )


def _worker_error(failure: str) -> Exception:
    """The exception to raise for a ``_failure``: our message first, in one line, as the
    worker's error type if it is a built-in one (not KeyError, which would print it quoted),
    else RuntimeError; the worker's traceback is kept as a note.

    >>> str(_worker_error(_failure(_Shard(0, "ids.npy", 0, 8), OSError("disk full"))))[:27]
    'shard shard-000000.npz (row'
    """
    failed = json.loads(failure)
    message = f"{failed['message']}. The shards written so far are kept: run the job again"
    kind = getattr(builtins, failed["type"], None) if failed["builtin"] else None
    if not (isinstance(kind, type) and issubclass(kind, Exception)) or issubclass(kind, KeyError):
        kind = RuntimeError
    try:
        error = kind(message)
    except Exception:  # noqa: BLE001 (a built-in that needs other arguments)
        error = RuntimeError(message)
    error.add_note(f"The worker's traceback:\n{failed['traceback']}")
    return error


def _run_on_ray(
    shards: list[_Shard],
    model_path: Path,
    keys: list[str],
    work: Path,
    batch_size: int,
    workers: int,
    job: str,
) -> None:
    """Write the given shards on Ray Data, at most ``workers`` at a time (Ray started if need
    be). Once all were tried, the first shard that failed raises its worker's error
    (``_worker_error``)."""
    if "ray" not in sys.modules and not os.environ.get("RAY_ADDRESS"):
        start_local(num_cpus=workers)  # before importing ray: it reads its settings on import
    ray = _ray()
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS (e.g. under `ray job submit`): join that cluster
    env = {"KERAS_BACKEND": keras.backend.backend()}
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        env["TF_CPP_MIN_LOG_LEVEL"] = os.environ["TF_CPP_MIN_LOG_LEVEL"]
    backend = keras.backend.backend()
    arguments = (str(model_path), tuple(keys), str(work), batch_size, backend, job)
    items = [dataclasses.asdict(shard) for shard in shards]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _write_shards,
        batch_size=1,
        compute=ray.data.TaskPoolStrategy(size=min(workers, len(items))),
        num_cpus=1,
        fn_kwargs={"worker": _ShardWorker, "arguments": arguments},
        runtime_env={"env_vars": env},
    )
    # A failed shard does not stop the others: stopping the job mid-way would kill the busy
    # worker processes (Ray Data cancels their tasks), and the re-run would wait for new ones.
    failures = [row["error"] for row in dataset.iter_rows() if row["error"]]
    if failures:
        error = _worker_error(failures[0])
        if len(failures) > 1:
            error.add_note(f"{len(failures)} of {len(shards)} shards failed; the first is above")
        raise error


# ---------------------------------------------------------------------------------------------
# The final folder
# ---------------------------------------------------------------------------------------------


_JOB_KEY = "job"  # in each shard file: the id of the job that wrote it (job.json's "id")
_IDS_KEY = "ids_sha256"  # in each shard file: _rows_sha256 of the ids it was made from


class _BadShard(Exception):
    """A shard file that must not be merged; the message names it and says why."""


def _read_shard(work: Path, shard: _Shard, job: str, probe: dict[str, np.ndarray]) -> list:
    """The arrays of a shard file, in layer order, if this job wrote it from the ids as they are
    now: it must be a readable ``.npz`` (zip checksums intact), carry this job's id (a file
    planted or left by another job has none or another), carry the checksum of the rows it
    stands for as they are now (else the ids changed since: stale rows), and hold the shapes
    and dtypes of ``probe``. Otherwise ``_BadShard``, saying which file and why.
    """
    name = f"shard file {shard.file} in {str(work)!r}"
    keys = list(probe)
    arrays = [f"arr_{i}" for i in range(len(keys))]
    try:
        with open(work / shard.file, "rb") as file:
            saved = np.load(file, allow_pickle=False)
            if not isinstance(saved, np.lib.npyio.NpzFile):
                raise _BadShard(f"{name} is not an .npz archive (a {type(saved).__name__})")
            if sorted(saved.files) != sorted([*arrays, _JOB_KEY, _IDS_KEY]):
                raise _BadShard(f"{name} was not written by this job (it holds {saved.files})")
            if str(saved[_JOB_KEY]) != job:
                raise _BadShard(f"{name} was written by another job, not this one")
            if str(saved[_IDS_KEY]) != _rows_sha256(shard.ids()):
                raise _BadShard(
                    f"{name} is stale: rows {shard.start}..{shard.stop - 1} of ids file "
                    f"{shard.path!r} changed since it was written"
                )
            parts = [saved[key] for key in arrays]
    except _BadShard:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise _BadShard(f"{name} is damaged ({type(error).__name__}: {error})") from None
    expected = [(shard.stop - shard.start, *probe[k].shape[1:]) for k in keys]
    found = [part.shape for part in parts]
    dtypes = [part.dtype for part in parts]
    if found != expected or dtypes != [probe[k].dtype for k in keys]:
        raise _BadShard(f"{name} holds shapes {found} {dtypes}, this job expects {expected}")
    return parts


def _finished(work: Path, shards: list[_Shard], job: str, probe: dict[str, np.ndarray]) -> set:
    """The indices of the shards already in ``work`` that ``_read_shard`` accepts; any other
    shard file is deleted, with one warning saying which and why: those shards are redone."""
    done, redo = set(), []
    for shard in shards:
        if (work / shard.file).exists():
            try:
                _read_shard(work, shard, job, probe)
                done.add(shard.index)
            except _BadShard as error:
                (work / shard.file).unlink()
                redo.append(str(error))
    if redo:
        warnings.warn(
            f"{len(redo)} shard file(s) will be redone: " + "; ".join(redo),
            RuntimeWarning,
            stacklevel=3,
        )
    return done


def _merge(
    out_dir: Path,
    work: Path,
    shards: list[_Shard],
    probe: dict[str, np.ndarray],
    names: dict[str, str],
    job: str,
) -> dict[str, NpyAppender]:
    """Stream every shard, in order, into one hidden ``.npy`` per activation (not yet renamed);
    each one checked by ``_read_shard`` first."""
    keys = list(probe)
    writers: dict[str, NpyAppender] = {}
    try:
        for key in keys:
            writers[key] = NpyAppender(out_dir, names[key], probe[key])
        for shard in shards:
            try:
                parts = _read_shard(work, shard, job, probe)
            except _BadShard as error:
                (work / shard.file).unlink(missing_ok=True)
                raise RuntimeError(
                    f"{error}; it was deleted, and nothing was written: run the job again to "
                    "redo that shard"
                ) from None
            for key, part in zip(keys, parts, strict=True):
                writers[key].append(part)
        for writer in writers.values():
            writer.finish()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return writers


def _check_ray_can_start() -> None:
    """Refuse, before any work, a process where Ray was imported but not started (and no
    ``RAY_ADDRESS`` to join): ``start_local`` could no longer apply its settings, and Ray would
    fail to start ("Failed to start GCS") only after the model and ids were checked."""
    ray = sys.modules.get("ray")
    if ray is None or os.environ.get("RAY_ADDRESS") or ray.is_initialized():
        return
    raise RuntimeError(
        "ray was imported in this process but not started, so extract_to_disk cannot start it "
        "here (Ray reads its local settings when imported). Call scale.start_local() before "
        "anything imports ray, or start Ray yourself first: ray.init() (on a cluster, "
        "ray.init(address=...) or set RAY_ADDRESS)"
    )


def _read_job(work: Path) -> Any:
    try:
        return json.loads((work / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def extract_to_disk(
    model_path: str | os.PathLike,
    ids: str | os.PathLike | Sequence[str | os.PathLike],
    layers: Any,
    out_dir: str | os.PathLike,
    *,
    batch_size: int = 256,
    shard_rows: int = 8192,
    workers: int = 2,
    overwrite: bool = False,
) -> dict[str, Path]:
    """``activations.extract_to_disk`` as a Ray Data job: same files, same index, many workers.

    ``model_path``: a saved ``.keras`` file (each worker loads it once). ``ids``: a ``.npy`` file
    of model inputs, one row per sentence (``data.vectorize_to_npy`` writes one), or a list of
    such files, read in order. ``layers``: as for ``activations.extract``. The rows are cut into
    shards of ``shard_rows`` (a multiple of ``batch_size``, so every batch holds the rows
    ``activations.extract`` would batch together, and the numbers are the same); ``workers``
    worker processes write one file per shard into ``out_dir/.shards/``, and the driver merges
    them into one ``.npy`` per activation in input order, then writes ``index.json`` last. A
    shard that fails raises its worker's error (a built-in type is kept, else RuntimeError), our
    message first. Run again after a failure to finish the job: finished shards are kept.
    Outputs that exist are refused (FileExistsError) unless ``overwrite=True``, as in
    ``activations.extract_to_disk``. Uses the running Ray, else joins ``RAY_ADDRESS``, else
    ``start_local(num_cpus=workers)`` (refused before any work if ``ray`` was imported but not
    started: call ``start_local`` first). On a cluster the model, the ids and ``out_dir`` must be
    on storage every node sees.

    >>> paths = extract_to_disk("textcnn.keras", "ids.npy", ["extractor"], "features")
    >>> np.load(paths["extractor"], mmap_mode="r").shape   # (rows of ids.npy, 100)
    """
    model_path = _model_file(model_path)
    files = _id_files(ids)
    batch_size = check_int("batch_size", batch_size)
    shard_rows = check_int("shard_rows", shard_rows)
    workers = check_int("workers", workers)
    overwrite = check_bool("overwrite", overwrite)
    _check_ray_can_start()
    if shard_rows % batch_size:
        raise ValueError(
            f"shard_rows must be a multiple of batch_size={batch_size} (so that each shard's "
            f"batches are the ones activations.extract runs); got {shard_rows}"
        )
    model = _load_model(model_path)
    first = np.asarray(np.load(files[0].path, mmap_mode="r")[:1])
    probe = activations.extract(model, first, layers, batch_size=1)  # checks names and shapes
    _check_id_range(model, files)
    keys = list(probe)
    names = file_names(tuple(keys))
    out_dir = check_path("out_dir", out_dir)
    work = out_dir / WORK_DIR
    job = {
        "model": {"file": str(model_path), "sha256": _sha256(model_path)},
        "layers": keys,
        "ids": [ids.record() for ids in files],
        "shard_rows": shard_rows,
        "batch_size": batch_size,
        "backend": keras.backend.backend(),
    }
    with locked_folder(out_dir, "out_dir"):  # a second job into this folder fails at once
        stored = _read_job(work)
        resuming = (
            isinstance(stored, dict)
            and isinstance(stored.get("id"), str)
            and {**stored, "id": None} == {**job, "id": None}
        )
        job["id"] = stored["id"] if resuming else secrets.token_hex(16)
        refuse_existing(
            out_dir, names, overwrite or (resuming and not (out_dir / INDEX_FILE).exists())
        )
        if work.exists() and not resuming:
            if not overwrite:
                raise FileExistsError(
                    f"{str(work)!r} holds the shards of another job (other model, ids, layers or "
                    "sizes); pass overwrite=True to discard them, or choose another out_dir"
                )
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        if not resuming:
            write_json(work / JOB_FILE, job)

        shards = _plan(files, shard_rows)
        done = _finished(work, shards, job["id"], probe) if resuming else set()
        pending = [shard for shard in shards if shard.index not in done]
        logger.info("%d of %d shards to extract", len(pending), len(shards))
        if pending:
            _run_on_ray(pending, model_path, keys, work, batch_size, workers, job["id"])
        missing = [shard.file for shard in pending if not (work / shard.file).exists()]
        if missing:
            raise RuntimeError(f"the job ended without writing {missing}; run it again to finish")
        merged = _merge(out_dir, work, shards, probe, names, job["id"])
        paths = publish(out_dir, model.name, names, merged)
        shutil.rmtree(work)
    return paths
