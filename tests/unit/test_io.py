"""hapexpr.io: atomic writes leave no temporaries and honour the umask; Parquet reads name a corrupt file."""

import os
import stat

import numpy as np
import pandas as pd
import pytest

from hapexpr.io import CorruptFileError, apply_umask, atomic_path, read_parquet, write_parquet, write_tsv


def _dead_pid() -> int:
    pid = 4_000_000  # above Linux's pid_max: no process has it
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return pid


def test_temporaries_of_a_killed_job_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "genes.tsv"
    dead = _dead_pid()
    (tmp_path / f".genes.tsv.tmp{dead}").write_text("half")
    (tmp_path / f".genes.tsv.tmp{dead + 1}").mkdir()
    live = tmp_path / f".genes.tsv.tmp{os.getppid()}"  # a running writer's temporary is left alone
    live.write_text("busy")
    other = tmp_path / f".other.tsv.tmp{dead}"  # another target's temporary is not this write's business
    other.write_text("x")
    write_tsv(pd.DataFrame({"a": [1]}), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["genes.tsv", live.name, other.name])


def test_a_failed_block_leaves_no_temporary_file_or_directory(tmp_path):
    for make in (lambda p: p.write_text("x"), lambda p: p.mkdir()):
        with pytest.raises(RuntimeError), atomic_path(tmp_path / "out") as tmp:
            make(tmp)
            raise RuntimeError("killed")
        assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_umask_permissions_even_when_the_writer_uses_0600(tmp_path):
    from safetensors.numpy import save_file

    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"w": np.zeros(2)}, str(tmp))
        directory = tmp_path / "llm"
        directory.mkdir(mode=0o700)
        fd = os.open(directory / "weights.bin", os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        apply_umask(directory)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "model.safetensors").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(directory / "weights.bin").st_mode) == 0o640


def test_truncated_parquet_names_the_file_and_says_to_delete_it(tmp_path):
    path = tmp_path / "results" / "expression.parquet"
    write_parquet(pd.DataFrame({"gene_id": ["g1", "g2"], "S1": [1.0, 2.0]}), path)
    assert read_parquet(path)["S1"].tolist() == [1.0, 2.0]
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CorruptFileError, match=rf"{path}: cannot be read as Parquet.*rm {path}.*rebuilds"):
        read_parquet(path)


def test_a_bad_request_on_a_whole_parquet_file_is_not_called_corrupt(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pd.DataFrame({"a": [1]}), path)
    with pytest.raises(Exception) as err:
        read_parquet(path, columns=["absent"])
    assert not isinstance(err.value, CorruptFileError)
    with pytest.raises(FileNotFoundError):
        read_parquet(tmp_path / "absent.parquet")
