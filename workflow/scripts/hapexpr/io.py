"""Atomic writes: an interrupted job never leaves a file that looks complete; Parquet reads that name a bad file."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: command-line tools that need none start faster
    import pandas as pd


# The 28-byte empty block that ends every complete BGZF file (SAM/BAM spec, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def has_bgzf_eof(path: str | os.PathLike) -> bool:
    """True when the file ends with the BGZF end-of-file block (a truncated bgzip file does not)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - len(BGZF_EOF)))
        return fh.read() == BGZF_EOF


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike) -> None:
    """Give `path` (a file, or a directory and everything in it) the permissions the user's umask asks for.

    Libraries that write through mkstemp (safetensors, for one) leave files 0600, so a group sharing a
    results directory could not read the weights; outputs get 0666 / 0777 minus the umask like any other file."""
    mask = _umask()
    root = Path(path)
    entries = [root] + (list(root.rglob("*")) if root.is_dir() else [])
    for entry in entries:
        if entry.is_symlink():
            continue
        os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the `.<name>.tmp<PID>` siblings of `path` left by a killed job (whose process no longer runs)."""
    final = Path(path)
    if not final.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.tmp(\d+)$")
    removed = []
    for entry in final.parent.iterdir():
        match = pattern.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            _remove(entry)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    Temporaries that a killed job left for the same target are removed first; the result gets the umask's
    permissions whatever the writer used."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    try:
        yield tmp
        apply_umask(tmp)
        os.replace(tmp, final)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def write_tsv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a small human-facing table atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a large table atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


class CorruptFileError(OSError):
    """A file the workflow wrote that cannot be read back (truncated, overwritten): the message says to delete it."""


def read_parquet(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """pandas.read_parquet that names the file when it is truncated or corrupt, and says how to rebuild it."""
    import pandas as pd
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pd.read_parquet(path, **kwargs)
    except (pyarrow.ArrowException, OSError) as err:
        if isinstance(err, FileNotFoundError) or os.path.isdir(path):
            raise
        try:  # a readable footer and row groups mean the file is whole: the error is about the request
            pq.ParquetFile(path).read()
        except (pyarrow.ArrowException, OSError):
            pass
        else:
            raise
        raise CorruptFileError(
            f"{path}: cannot be read as Parquet ({err}); the file is truncated or corrupt (a full disk, a copy cut "
            f"short, an edit). Delete it (`rm {path}`) and rerun: Snakemake rebuilds it from its inputs."
        ) from err
