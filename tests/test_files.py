"""helpers._files: atomic writes (temp file in the target folder, fsync, os.replace)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers import _files
from helpers._files import atomic_open, create_temp, save_npy, write_json


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_npy_writes_exactly_at_the_path_and_leaves_nothing_else(tmp_path):
    array = np.arange(12, dtype="int16").reshape(3, 4)
    save_npy(tmp_path / "labels.npy", array)
    save_npy(str(tmp_path / "no_suffix"), array)  # np.save(path) would append .npy
    assert names(tmp_path) == ["labels.npy", "no_suffix"]
    for name in names(tmp_path):
        loaded = np.load(tmp_path / name)
        assert loaded.dtype == array.dtype
        np.testing.assert_array_equal(loaded, array)


def test_write_json_round_trips_and_replaces_an_older_file(tmp_path):
    path = tmp_path / "run.json"
    write_json(path, {"old": 1})
    write_json(path, {"accuracy": 0.5, "index": [1, 2]}, indent=1)
    assert json.loads(path.read_text(encoding="utf-8")) == {"accuracy": 0.5, "index": [1, 2]}
    assert names(tmp_path) == ["run.json"]


def test_an_unserialisable_object_leaves_the_old_file_untouched(tmp_path):
    path = tmp_path / "run.json"
    write_json(path, {"kept": True})
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"kept": True}
    assert names(tmp_path) == ["run.json"]


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temp(tmp_path, interruption):
    path = tmp_path / "table.csv"
    path.write_text("old\n")
    seen = []
    with pytest.raises(type(interruption)), atomic_open(path, "w") as file:
        file.write("half a new ta")
        seen.append(names(tmp_path))
        raise interruption
    assert seen[0][0].startswith(".table.csv.") and seen[0][0].endswith(".partial")
    assert path.read_text() == "old\n"
    assert names(tmp_path) == ["table.csv"]


def test_the_file_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(_files.os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        _files.os, "replace", lambda a, b: events.append("replace") or real_replace(a, b)
    )
    save_npy(tmp_path / "a.npy", np.zeros(3))
    write_json(tmp_path / "a.json", [])
    assert events == ["fsync", "replace", "fsync", "replace"]


def test_two_writers_to_one_name_get_distinct_temp_files(tmp_path):
    first, file_a = create_temp(tmp_path, "same.npy")
    second, file_b = create_temp(tmp_path, "same.npy")
    file_a.close()
    file_b.close()
    assert first != second and first.parent == second.parent == tmp_path


def test_temp_names_that_collide_are_retried_not_overwritten(tmp_path, monkeypatch):
    tokens = iter(["aaaaaaaa", "aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(_files.secrets, "token_hex", lambda n: next(tokens))
    first, file_a = create_temp(tmp_path, "x.npy")
    file_a.write(b"first")
    file_a.close()
    second, file_b = create_temp(tmp_path, "x.npy")
    file_b.close()
    assert first.name == ".x.npy.aaaaaaaa.helpers.partial"
    assert second.name == ".x.npy.bbbbbbbb.helpers.partial"
    assert first.read_bytes() == b"first"


def test_written_files_follow_the_umask_like_np_save(tmp_path):
    old = os.umask(0o027)
    try:
        np.save(tmp_path / "reference.npy", np.zeros(1))
        save_npy(tmp_path / "ours.npy", np.zeros(1))
        write_json(tmp_path / "ours.json", {})
    finally:
        os.umask(old)
    mode = (tmp_path / "reference.npy").stat().st_mode & 0o777
    assert mode == 0o640
    assert (tmp_path / "ours.npy").stat().st_mode & 0o777 == mode
    assert (tmp_path / "ours.json").stat().st_mode & 0o777 == mode


def test_object_arrays_and_bad_modes_are_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"got dtype object .*np.asarray\(x, dtype=float\)"):
        save_npy(tmp_path / "bad.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"mode must be one of \('w', 'wb'\); got 'a'"):
        create_temp(tmp_path, "x.txt", "a")
    assert names(tmp_path) == []


def test_only_our_own_temporaries_are_removed_never_a_users_partial_file(tmp_path):
    ours, file = create_temp(tmp_path, "x.npy")
    file.close()
    users = [".notes.1234abcd.partial", "download.partial", ".x.npy.1234abcd.partial"]
    for name in users:
        (tmp_path / name).write_text("mine")
    with (
        pytest.warns(UserWarning, match="removed 1 unfinished temporary file"),
        _files.locked_folder(tmp_path),
    ):
        pass
    assert not ours.exists() and sorted(names(tmp_path)) == sorted(users)


# --- campaign 24: a folder or a file in the way is named before anything is written ---


def test_a_file_cannot_replace_a_folder_and_the_error_names_the_path(tmp_path):
    (tmp_path / "labels.npy").mkdir()
    with pytest.raises(IsADirectoryError, match=r"labels.npy' is a folder; a file cannot be"):
        _files.save_npy(tmp_path / "labels.npy", np.arange(3))  # named our .partial before
    with pytest.raises(IsADirectoryError, match="is a folder"):
        _files.write_json(tmp_path / "labels.npy", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.npy"]  # no .partial left


def test_a_missing_folder_or_a_file_as_folder_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"f' is a file, not a folder"):
        _files.save_npy(tmp_path / "f" / "x.npy", np.arange(3))
    with pytest.raises(FileNotFoundError, match=r"no' does not exist"):
        _files.write_json(tmp_path / "no" / "x.json", {})


def test_write_json_refuses_nan_which_json_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="r.json: NaN or inf cannot be written as JSON"):
        _files.write_json(tmp_path / "r.json", {"accuracy": float("nan")})  # wrote NaN
    assert list(tmp_path.iterdir()) == []


def test_locked_folder_names_a_file_in_the_folders_place_and_takes_a_str(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="--out '.*f' is a file, not a folder"):
        _files.locked_folder(tmp_path / "f", "--out").__enter__()
    with _files.locked_folder(str(tmp_path / "s")):  # an AttributeError before
        assert (tmp_path / "s").is_dir()


@pytest.mark.parametrize("overwrite", [False, True])
def test_refuse_existing_names_a_folder_under_an_output_name(tmp_path, overwrite):
    from helpers._featurefolder import refuse_existing

    (tmp_path / "extractor.npy").mkdir()
    with pytest.raises(IsADirectoryError, match="holds folder.* named like output files: extr"):
        refuse_existing(tmp_path, {"extractor": "extractor.npy"}, overwrite)
