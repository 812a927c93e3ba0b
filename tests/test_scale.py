"""Tests for helpers.scale: activation extraction as a Ray Data job, with 2 local workers.

Ray starts once for the module, started by its first job as a script without start_local starts
it. Its worker processes are kept from job to job, so only the first job waits for them to import
TensorFlow (about 35 s at a load of 10 on a 2-core machine); the later jobs take a second or two.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import signal
import sys
import zipfile
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
from packaging.requirements import Requirement

from helpers import activations, data, scale
from helpers.textcnn import build_textcnn

if importlib.util.find_spec("ray") is None:  # not importorskip: ray must not be imported yet
    pytest.skip(
        "the scale extra is not installed: pip install -e .[scale]", allow_module_level=True
    )

SENTENCES, LENGTH = 3000, 20
LAYERS = ["extractor", "flatten"]
INDEX = activations.INDEX_FILE


class Corpus:
    """Token ids of synthetic sentences on disk, a saved TextCNN, and extract's answer on them."""

    def __init__(self, folder: Path) -> None:
        texts, _ = data.synthetic_reviews(SENTENCES, seed=0)
        ids, vocabulary = data.vectorize(texts, max_tokens=300, sequence_length=LENGTH)
        self.ids = folder / "ids.npy"
        np.save(self.ids, ids)
        keras.utils.set_random_seed(0)
        model = build_textcnn(LENGTH, 2, len(vocabulary), 16, num_filters=8, feature_dim=10)
        self.model = folder / "textcnn.keras"
        model.save(self.model)
        self.expected = activations.extract(model, ids, LAYERS)
        self.index_folder = folder / "single_process"
        activations.extract_to_disk(model, ids, LAYERS, self.index_folder, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def first_job(corpus, tmp_path_factory) -> Path:
    """The module's first Ray job, run as a user's fresh script runs it: ``ray`` not imported
    yet and no start_local, so the job starts Ray itself (the case that once failed with
    "Failed to start GCS": ray imported before start_local could apply its settings). Its Ray
    then serves the module. Done here, not in a subprocess: a second Ray and two more processes
    importing TensorFlow took minutes on a busy machine."""
    assert "ray" not in sys.modules, "ray was imported before this module's first job"
    out_dir = tmp_path_factory.mktemp("first_job") / "features"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)
        scale.extract_to_disk(corpus.model, corpus.ids, ["extractor"], out_dir, shard_rows=1024)
    return out_dir


@pytest.fixture(scope="module")
def local_ray(first_job):
    import ray

    # The worker subclasses below live in this test file, which the workers cannot import.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.fixture
def no_engine(monkeypatch):
    """Fails the test if a job reaches Ray: for checks that must happen before any worker."""

    def engine(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(scale, "_run_on_ray", engine)


def assert_same_files(out_dir: Path, corpus: Corpus) -> None:
    """out_dir holds what activations.extract_to_disk writes, numbers equal to extract's."""
    assert sorted(p.name for p in out_dir.iterdir()) == ["extractor.npy", "flatten.npy", INDEX]
    index = json.loads((out_dir / INDEX).read_text())
    assert index == json.loads((corpus.index_folder / INDEX).read_text())
    for key in LAYERS:
        got = np.load(out_dir / index["activations"][key]["file"], mmap_mode="r")
        want = corpus.expected[key]
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)  # bit-identical, in input order


# --- the job on 2 local workers ----------------------------------------------------------------


def test_a_job_without_start_local_starts_ray_itself(corpus, first_job, local_ray):
    got = np.load(first_job / "extractor.npy")
    np.testing.assert_array_equal(got, corpus.expected["extractor"])
    assert local_ray.util.get_node_ip_address() == scale.LOOPBACK  # start_local's settings
    assert local_ray.cluster_resources()["CPU"] == 2  # workers=2 by default


def test_two_workers_write_extract_to_disks_files_bit_identical(corpus, local_ray, tmp_path):
    out_dir = tmp_path / "features"
    paths = scale.extract_to_disk(
        corpus.model, corpus.ids, LAYERS, out_dir, shard_rows=512, workers=2
    )
    assert paths == {key: out_dir / f"{key}.npy" for key in LAYERS}
    assert_same_files(out_dir, corpus)  # 6 shards, the last one short, merged in order
    with pytest.raises(FileExistsError, match="already exist"):
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, out_dir)


@pytest.mark.backend_independent
def test_a_list_of_id_files_is_read_in_order(corpus, local_ray, tmp_path):
    ids = np.load(corpus.ids)
    parts = [tmp_path / "part0.npy", tmp_path / "part1.npy"]
    np.save(parts[0], ids[:1100])
    np.save(parts[1], ids[1100:])
    model = keras.saving.load_model(corpus.model, compile=False)
    per_file = [activations.extract(model, np.load(part), LAYERS) for part in parts]
    paths = scale.extract_to_disk(corpus.model, parts, LAYERS, tmp_path / "out", shard_rows=768)
    for key in LAYERS:
        got = np.load(paths[key])
        np.testing.assert_array_equal(got, np.concatenate([p[key] for p in per_file]))
        # Against one extract over all rows, the batches differ after row 1100: float32 rounding.
        difference = np.abs(got - corpus.expected[key]).max()
        assert difference <= 1e-5 * max(1.0, np.abs(corpus.expected[key]).max()), difference


class KillOnce(scale._ShardWorker):
    """Kills its own worker process (SIGKILL, no clean-up) at shard 5, the first time only."""

    def write(self, shard):
        marker = self.work_dir.parents[1] / "killed"
        if shard.index == 5 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        super().write(shard)


@pytest.mark.backend_independent
def test_a_worker_killed_mid_job_then_a_rerun_gives_the_same_files(
    corpus, local_ray, tmp_path, monkeypatch
):
    out_dir = tmp_path / "features"
    monkeypatch.setattr(scale, "_ShardWorker", KillOnce)
    try:  # Ray restarts the killed worker and retries its shard, so this run usually finishes
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, out_dir, shard_rows=256)
    except Exception:  # noqa: BLE001 (if it did not, the re-run below must finish the job)
        assert not (out_dir / INDEX).exists()
    assert (tmp_path / "killed").exists(), "no worker was killed"
    monkeypatch.undo()
    if not (out_dir / INDEX).exists():
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, out_dir, shard_rows=256)
    assert_same_files(out_dir, corpus)


class FailAtShard4(scale._ShardWorker):
    def write(self, shard):
        if shard.index == 4:
            raise OSError("disk full (simulated)")
        super().write(shard)


class Spy(scale._ShardWorker):
    """Logs each shard it writes to spy.log beside the output folder."""

    def write(self, shard):
        super().write(shard)
        with open(self.work_dir.parents[1] / "spy.log", "a") as log:
            log.write(f"{shard.index}\n")


@pytest.mark.backend_independent
def test_a_failed_job_looks_unfinished_and_a_rerun_redoes_only_missing_shards(
    corpus, local_ray, tmp_path, monkeypatch
):
    out_dir = tmp_path / "features"
    monkeypatch.setattr(scale, "_ShardWorker", FailAtShard4)
    with pytest.raises(OSError) as info:  # the worker's error, not Ray's RayTaskError
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, out_dir, shard_rows=256)
    assert type(info.value) is OSError
    message = str(info.value)  # ours first, in one line; the worker's traceback is a note
    assert message.startswith(
        "shard shard-000004.npz (rows 1024..1279 of ids file "
        f"{str(corpus.ids)!r}) failed in a Ray worker: OSError: disk full (simulated). "
    ), message
    assert "\n" not in message and "Ray" not in message.replace("a Ray worker", "")
    assert "in write" in info.value.__notes__[0]  # the worker's own traceback, kept
    assert sorted(p.name for p in out_dir.iterdir()) == [scale.WORK_DIR]  # no index, no .npy
    work = out_dir / scale.WORK_DIR
    done = {int(re.findall(r"\d+", p.name)[0]) for p in work.glob("shard-*.npz")}
    for index in done:  # a shard file is there only when complete
        with np.load(work / f"shard-{index:06d}.npz") as shard:
            rows = min(256, SENTENCES - 256 * index)
            assert [shard[f"arr_{i}"].shape[0] for i in range(2)] == [rows, rows]
    assert done == set(range(12)) - {4}, done  # the other shards were all written

    monkeypatch.setattr(scale, "_ShardWorker", Spy)
    scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, out_dir, shard_rows=256)
    redone = {int(line) for line in (tmp_path / "spy.log").read_text().split()}
    assert redone == {4}, redone  # 3000 rows / 256: 12 shards, only the failed one redone
    assert_same_files(out_dir, corpus)


@pytest.mark.backend_independent
def test_a_bad_id_found_by_a_worker_is_its_own_clear_error(
    corpus, local_ray, tmp_path, monkeypatch
):
    """Ids that changed after the driver checked them: the worker's ValueError, ours, first."""
    ids = np.load(corpus.ids)
    ids[2500, 3] = 10_000  # shard 9 (rows 2304..2559), row 196 in it
    ids[600, 5] = 10_000  # shard 2 (rows 512..767), row 88 in it
    bad = tmp_path / "bad.npy"
    np.save(bad, ids)
    monkeypatch.setattr(scale, "_check_id_range", lambda model, files: None)
    with pytest.raises(ValueError) as info:
        scale.extract_to_disk(corpus.model, bad, LAYERS, tmp_path / "o", shard_rows=256)
    message = str(info.value)
    assert type(info.value) is ValueError, type(info.value)
    shard = re.match(r"shard shard-00000(\d)\.npz", message)  # either: shards finish in any order
    where = {"9": ("2304..2559", "[196, 3]"), "2": ("512..767", "[88, 5]")}[shard[1]]
    assert message.startswith(
        f"shard shard-00000{shard[1]}.npz (rows {where[0]} of ids file {str(bad)!r}) failed in a "
        "Ray worker: ValueError: "
    ), message
    assert f"id 10000 at position {where[1]} is outside [0, " in message, message
    assert "2 of 12 shards failed" in info.value.__notes__[-1]


class Custom(Exception):
    """An exception that cannot be made from one message."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (PermissionError("read-only folder"), PermissionError),
        (KeyError("arr_0"), RuntimeError),  # a KeyError would print our message quoted
        (Custom(7, "bad"), RuntimeError),  # not a built-in
    ],
)
def test_a_workers_error_is_raised_with_our_message_first(error, raised):
    shard = scale._Shard(2, "ids.npy", 512, 768)
    try:
        raise error
    except Exception as caught:  # noqa: BLE001 (as in the worker: with its traceback)
        failure = scale._failure(shard, caught)
    clear = scale._worker_error(failure)
    assert type(clear) is raised
    assert str(clear) == (
        "shard shard-000002.npz (rows 512..767 of ids file 'ids.npy') failed in a Ray worker: "
        f"{type(error).__name__}: {error}. The shards written so far are kept: run the job again"
    )
    assert "test_a_workers_error_is_raised" in clear.__notes__[0]  # the worker's traceback


def is_loopback(ip: str) -> bool:
    """127.x, ::1, or 127.x written as IPv6 (::ffff:127.0.0.1)."""
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


@pytest.mark.backend_independent
def test_ray_listens_on_loopback_only(local_ray):
    psutil = pytest.importorskip("psutil")
    assert local_ray.util.get_node_ip_address() == scale.LOOPBACK
    ours = {p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}
    listening = [
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]
    assert listening, "found none of Ray's servers"
    assert all(is_loopback(ip) for ip in listening), listening
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


@pytest.mark.backend_independent
def test_rays_processes_start_without_the_slow_import_and_this_one_keeps_its_path(local_ray):
    @local_ray.remote
    def probe() -> str:
        import jsonschema  # noqa: F401 (ray imports it too; it must still import)

        try:
            import rfc3987_syntax  # noqa: F401
        except ImportError as error:
            return str(error)
        return "imported"

    assert "left out of Ray's processes" in local_ray.get(probe.remote())
    assert str(scale._RAY_STARTUP) not in os.environ.get("PYTHONPATH", "")


@pytest.mark.backend_independent
def test_rays_workers_run_at_this_processs_priority(local_ray):
    @local_ray.remote
    def niceness() -> int:
        return os.nice(0)

    assert local_ray.get(niceness.remote()) == os.nice(0)  # not 15 nicer, Ray's default


@pytest.mark.backend_independent
def test_a_ray_start_that_times_out_is_retried_then_explained_in_one_line(monkeypatch):
    os.environ.update(scale._LOCAL_ENV)  # as start_local does before ray is imported
    ray = scale._ray()
    paths = []

    def init(**kwargs):
        paths.append(os.environ["PYTHONPATH"].split(os.pathsep)[0])
        raise Exception("The current node timed out during startup. This could happen ...")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # a real one would stop local_ray's Ray
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    with pytest.raises(
        RuntimeError, match=r"^Ray did not start: .* timed out starting 3 times"
    ) as info:
        scale.start_local(num_cpus=2)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no Ray traceback
    assert "Close other programs" in str(info.value) and "\n" not in str(info.value)
    assert paths == [str(scale._RAY_STARTUP)] * scale.START_ATTEMPTS
    assert os.environ["PYTHONPATH"] == "/somewhere"

    def other(**kwargs):
        paths.append("other")
        raise ValueError("another problem")

    monkeypatch.setattr(ray, "init", other)
    paths.clear()
    with pytest.raises(ValueError, match="another problem"):  # not retried, not reworded
        scale.start_local(num_cpus=2)
    assert paths == ["other"]


# --- checks before any worker starts (no Ray needed) -------------------------------------------


def bad_model(kind: str, folder: Path):
    """A model_path argument that must be refused."""
    if kind == "junk.keras":
        (folder / kind).write_bytes(np.random.default_rng(0).bytes(256))
    if kind == "folder.keras":
        (folder / kind).mkdir()
    if kind == "other zip.keras":
        with zipfile.ZipFile(folder / kind, "w") as archive:
            archive.writestr("notes.txt", "a zip, but not a saved model")
    if kind == "live model":
        return keras.Sequential(name="live")
    return folder / kind


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("missing.keras", FileNotFoundError, "does not exist"),
        ("model.h5", ValueError, r"must be a \.keras file"),
        ("junk.keras", ValueError, r"is not a \.keras file: a \.keras file is a zip archive"),
        ("folder.keras", IsADirectoryError, r"is a folder, not a \.keras file"),
        ("other zip.keras", ValueError, "not a loadable Keras model"),
        ("live model", TypeError, r"not a live model.*model\.save"),
    ],
)
def test_a_bad_model_path_fails_before_any_worker(
    corpus, tmp_path, no_engine, kind, error, message
):
    out_dir = tmp_path / "features"
    with pytest.raises(error, match=message):
        scale.extract_to_disk(bad_model(kind, tmp_path), corpus.ids, LAYERS, out_dir)
    assert not out_dir.exists()


def test_an_unknown_layer_fails_before_any_worker_listing_the_known_ones(
    corpus, tmp_path, no_engine
):
    out_dir = tmp_path / "features"
    with pytest.raises(KeyError) as info:
        scale.extract_to_disk(corpus.model, corpus.ids, ["extracter"], out_dir)
    message = str(info.value)
    assert "no layer named 'extracter'" in message
    assert message.index("'extractor'") < message.index("'embedding'")  # closest first
    assert not out_dir.exists()


def bad_ids(kind: str, folder: Path, good: Path):
    """An ids argument that must be refused."""
    if kind == "array":
        return np.load(good)
    if kind == "empty list":
        return []
    if kind == "text.npy":
        (folder / kind).write_text("not an array")
    if kind == "no_rows.npy":
        np.save(folder / kind, np.zeros((0, LENGTH), "int32"))
    if kind == "other shape":
        np.save(folder / "wide.npy", np.zeros((4, LENGTH + 1), "int32"))
        return [good, folder / "wide.npy"]
    return folder / kind


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("array", TypeError, r"path of a \.npy file.*np\.save"),
        ("empty list", TypeError, "empty list"),
        ("missing.npy", FileNotFoundError, "does not exist"),
        ("text.npy", ValueError, r"is not a \.npy file"),
        ("no_rows.npy", ValueError, "holds no rows"),
        ("other shape", ValueError, "share their row shape"),
    ],
)
def test_bad_ids_fail_before_any_worker(corpus, tmp_path, no_engine, kind, error, message):
    ids = bad_ids(kind, tmp_path, corpus.ids)
    with pytest.raises(error, match=message):
        scale.extract_to_disk(corpus.model, ids, LAYERS, tmp_path / "features")
    assert not (tmp_path / "features").exists()


def test_ids_that_do_not_fit_the_model_fail_before_any_worker(corpus, tmp_path, no_engine):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, LENGTH + 1), "int32"))
    with pytest.raises(ValueError, match="expects batches of shape"):
        scale.extract_to_disk(corpus.model, wrong, LAYERS, tmp_path / "o")


@pytest.mark.parametrize("bad_id", [10_000, -1])
def test_an_id_outside_the_embedding_fails_before_any_worker_naming_file_and_place(
    corpus, tmp_path, no_engine, bad_id
):
    ids = np.load(corpus.ids)
    ids[2500, 3] = bad_id  # far from row 0, the row the driver's probe runs
    bad = tmp_path / "bad.npy"
    np.save(bad, ids)
    rows = keras.saving.load_model(corpus.model, compile=False).get_layer("embedding").input_dim
    message = rf"bad\.npy'.*Embedding 'embedding'.*id {bad_id} at position \[2500, 3\] is "
    with pytest.raises(ValueError, match=message + rf"outside \[0, {rows}\)"):
        scale.extract_to_disk(corpus.model, [corpus.ids, bad], LAYERS, tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"shard_rows": 500}, ValueError, "multiple of batch_size=256"),
        ({"workers": 0}, ValueError, "workers must be a positive int"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be a positive int"),
    ],
)
def test_bad_sizes_fail_before_any_worker(corpus, tmp_path, no_engine, kwargs, error, message):
    with pytest.raises(error, match=message):
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, tmp_path / "o", **kwargs)


def test_existing_outputs_and_another_jobs_shards_are_refused(corpus, tmp_path, no_engine):
    with pytest.raises(FileExistsError, match="index.json"):
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, corpus.index_folder)
    out_dir = tmp_path / "features"
    (out_dir / scale.WORK_DIR).mkdir(parents=True)
    (out_dir / scale.WORK_DIR / scale.JOB_FILE).write_text('{"layers": ["conv_3"]}')
    with pytest.raises(FileExistsError, match="shards of another job"):
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, out_dir)


# --- starting Ray: extract_to_disk without start_local --------------------------------------


class NotStarted(Exception):
    """Raised by a stand-in for start_local: the test stops there, no Ray started."""


def test_without_start_local_the_job_starts_ray_before_anything_imports_it(
    corpus, tmp_path, monkeypatch
):
    seen = []

    def start_local(num_cpus):
        seen.append(("ray" in sys.modules, num_cpus))
        raise NotStarted

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(scale, "start_local", start_local)
    with pytest.raises(NotStarted):
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, tmp_path / "o", workers=1)
    assert seen == [(False, 1)]  # ray imported after start_local set RAY_AUTH_MODE & co.


class ImportedRay:
    """sys.modules["ray"] of a process that imported ray and did not start it."""

    @staticmethod
    def is_initialized() -> bool:
        return False


def test_ray_imported_but_not_started_is_refused_before_any_work(
    corpus, tmp_path, monkeypatch, no_engine
):
    monkeypatch.setitem(sys.modules, "ray", ImportedRay)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(scale, "_load_model", lambda path: pytest.fail("the model was loaded"))
    with pytest.raises(RuntimeError, match=r"imported .* not started.*scale\.start_local\(\)"):
        scale.extract_to_disk(corpus.model, corpus.ids, LAYERS, tmp_path / "o")
    assert not (tmp_path / "o").exists()


# --- one worker, in this process ---------------------------------------------------------------


def test_a_worker_writes_its_shard_as_extract_computes_it(corpus, tmp_path):
    arguments = (str(corpus.model), tuple(LAYERS), str(tmp_path), 256, keras.backend.backend())
    shard = scale._Shard(3, str(corpus.ids), 768, 1024)
    batch = {"index": np.array([3]), "path": np.array([shard.path]),
             "start": np.array([768]), "stop": np.array([1024])}  # fmt: skip
    done = scale._write_shards(batch, scale._ShardWorker, (*arguments, "job-1"))
    assert list(done["index"]) == [3] and list(done["error"]) == [""]
    with np.load(tmp_path / shard.file) as saved:
        for i, key in enumerate(LAYERS):
            np.testing.assert_array_equal(saved[f"arr_{i}"], corpus.expected[key][768:1024])
        assert str(saved["job"]) == "job-1"  # which job wrote it, and from which ids:
        assert str(saved["ids_sha256"]) == scale._rows_sha256(np.load(corpus.ids)[768:1024])
    key = ("helpers.scale", "_ShardWorker", (*arguments, "job-1"))
    worker = scale._WORKER[key]
    scale._write_shards(batch, scale._ShardWorker, (*arguments, "job-1"))
    assert list(scale._WORKER) == [key] and scale._WORKER[key] is worker  # loaded once a job
    scale._write_shards(batch, scale._ShardWorker, (*arguments, "job-2"))  # the next job's
    assert list(scale._WORKER) == [(*key[:2], (*arguments, "job-2"))]  # replaces it
    scale._WORKER.clear()


def test_a_short_last_shard_is_bit_identical_to_extract_in_a_fresh_process(corpus, tmp_path):
    """Rows 2816..2999, shorter than a batch, as the first shard of a new worker (its model
    never ran another batch shape): as extract computes them, in its padded last batch."""
    worker = scale._ShardWorker(
        str(corpus.model), LAYERS, str(tmp_path), 256, keras.backend.backend(), "job-1"
    )
    worker.write(scale._Shard(11, str(corpus.ids), 2816, 3000))
    with np.load(tmp_path / "shard-000011.npz") as saved:
        for i, key in enumerate(LAYERS):
            np.testing.assert_array_equal(saved[f"arr_{i}"], corpus.expected[key][2816:])


def test_a_worker_on_another_backend_refuses_to_start(corpus, tmp_path):
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    with pytest.raises(RuntimeError, match=f"set KERAS_BACKEND={other} on the workers"):
        scale._ShardWorker(str(corpus.model), LAYERS, str(tmp_path), 256, other, "job-1")


# --- resuming: only this job's intact, up-to-date shards are merged (one worker, no Ray) -------


class InProcess:
    """Stands in for Ray: one _ShardWorker in this process writes the shards, in order, and
    records which; raises OSError at shard ``fail_at``, or calls ``after()`` once all are written.
    """

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.fail_at: int | None = None
        self.after = None

    def __call__(self, shards, model_path, keys, work, batch_size, workers, job) -> None:
        backend = keras.backend.backend()
        worker = scale._ShardWorker(str(model_path), keys, str(work), batch_size, backend, job)
        for shard in shards:
            if shard.index == self.fail_at:
                raise OSError("disk full (simulated)")
            worker.write(shard)
            self.ran.append(shard.index)
        if self.after is not None:
            self.after()


@pytest.fixture
def in_process(monkeypatch) -> InProcess:
    engine = InProcess()
    monkeypatch.setattr(scale, "_run_on_ray", engine)
    return engine


def interrupted_job(corpus: Corpus, folder: Path, engine: InProcess) -> tuple[Path, Path]:
    """A copy of the ids and a job into ``out_dir`` that stopped after shards 0, 1, 2 of 12."""
    ids, out_dir = folder / "ids.npy", folder / "features"
    ids.write_bytes(corpus.ids.read_bytes())
    engine.fail_at = 3
    with pytest.raises(OSError, match="disk full"):
        scale.extract_to_disk(corpus.model, ids, LAYERS, out_dir, shard_rows=256)
    assert engine.ran == [0, 1, 2]
    engine.fail_at, engine.ran = None, []
    return ids, out_dir


def change_rows_keeping_size_and_mtime(ids: Path, rows: slice) -> np.ndarray:
    """Rewrite some rows of the ids file; its size and mtime stay as they were."""
    before = ids.stat()
    array = np.load(ids)
    array[rows] = (array[rows] + 1) % 50  # still valid ids
    np.save(ids, array)
    os.utime(ids, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (ids.stat().st_size, ids.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    return array


def assert_extracted_from(out_dir: Path, corpus: Corpus, ids: np.ndarray) -> None:
    model = keras.saving.load_model(corpus.model, compile=False)
    want = activations.extract(model, ids, LAYERS)
    for key in LAYERS:
        np.testing.assert_array_equal(np.load(out_dir / f"{key}.npy"), want[key])


def test_a_resume_after_the_ids_changed_redoes_the_stale_shards(corpus, tmp_path, in_process):
    ids, out_dir = interrupted_job(corpus, tmp_path, in_process)
    new = change_rows_keeping_size_and_mtime(ids, slice(300, 320))  # in shard 1
    with pytest.warns(RuntimeWarning, match=r"shard-000001\.npz .* is stale: rows 256\.\.511"):
        scale.extract_to_disk(corpus.model, ids, LAYERS, out_dir, shard_rows=256)
    assert in_process.ran == [1, *range(3, 12)]  # shards 0 and 2 kept
    assert_extracted_from(out_dir, corpus, new)


def test_ids_changed_while_the_job_ran_are_never_merged(corpus, tmp_path, in_process):
    ids, out_dir = tmp_path / "ids.npy", tmp_path / "features"
    ids.write_bytes(corpus.ids.read_bytes())
    in_process.after = lambda: change_rows_keeping_size_and_mtime(ids, slice(600, 601))
    with pytest.raises(RuntimeError, match=r"shard-000002\.npz .* is stale.*run the job again"):
        scale.extract_to_disk(corpus.model, ids, LAYERS, out_dir, shard_rows=256)
    assert not (out_dir / INDEX).exists() and not list(out_dir.glob("*.npy"))
    in_process.after, in_process.ran = None, []
    scale.extract_to_disk(corpus.model, ids, LAYERS, out_dir, shard_rows=256)
    assert in_process.ran == [2]
    assert_extracted_from(out_dir, corpus, np.load(ids))


def plant(work: Path, kind: str, corpus: Corpus) -> None:
    """Put a shard-000001.npz of the right shapes into ``work`` that this job did not write."""
    if kind == "zeros":
        shapes = [(256, *corpus.expected[key].shape[1:]) for key in LAYERS]
        np.savez(work / "shard-000001.npz", *(np.zeros(shape, "float32") for shape in shapes))
    else:  # the same shard, written by another run of the same job: another job id
        worker = scale._ShardWorker(
            str(corpus.model), LAYERS, str(work), 256, keras.backend.backend(), "another job"
        )
        worker.write(scale._Shard(1, str(work.parents[1] / "ids.npy"), 256, 512))


@pytest.mark.parametrize("kind", ["zeros", "another job's"])
def test_a_planted_shard_is_never_merged(corpus, tmp_path, in_process, kind):
    ids, out_dir = interrupted_job(corpus, tmp_path, in_process)
    plant(out_dir / scale.WORK_DIR, kind, corpus)
    planted = r"shard-000001\.npz .* (was not written by this job|was written by another job)"
    with pytest.warns(RuntimeWarning, match=planted):
        scale.extract_to_disk(corpus.model, ids, LAYERS, out_dir, shard_rows=256)
    assert in_process.ran == [1, *range(3, 12)]
    assert_same_files(out_dir, corpus)


def damage(path: Path, kind: str) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "an .npy":
        np.save(path.with_suffix(".npy"), np.zeros((256, 10), "float32"))
        path.with_suffix(".npy").replace(path)
    else:  # one byte changed inside the first array: the zip's CRC-32 no longer matches
        middle = len(data) // 3
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("truncated", r"damaged \(BadZipFile"),
        ("empty", r"damaged \(EOFError"),
        ("one byte changed", r"damaged \(BadZipFile: Bad CRC-32"),
        ("an .npy", r"not an \.npz archive"),
    ],
)
def test_a_damaged_shard_is_named_and_redone(corpus, tmp_path, in_process, kind, why):
    ids, out_dir = interrupted_job(corpus, tmp_path, in_process)
    damage(out_dir / scale.WORK_DIR / "shard-000001.npz", kind)
    with pytest.warns(RuntimeWarning, match=r"redone: shard file shard-000001\.npz .* " + why):
        scale.extract_to_disk(corpus.model, ids, LAYERS, out_dir, shard_rows=256)
    assert in_process.ran == [1, *range(3, 12)]
    assert_same_files(out_dir, corpus)


@pytest.mark.backend_independent
def test_the_scale_extra_is_pinned_exactly_and_installed():
    requirements = [Requirement(r) for r in metadata.requires("keras-layer-recipes")]
    extra = [r for r in requirements if r.marker and r.marker.evaluate({"extra": "scale"})]
    base = [r for r in requirements if not r.marker]
    assert "ray" in {r.name for r in extra} and "ray" not in {r.name for r in base}
    assert {r.name: r.extras for r in extra}["ray"] == {"data"}
    for requirement in extra:
        pins = [spec for spec in requirement.specifier if spec.operator == "=="]
        assert len(pins) == 1, f"{requirement} is not an exact pin (name==version)"
        assert metadata.version(requirement.name) == pins[0].version, requirement
