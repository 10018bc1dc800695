"""Identifiers that reach paths and shells: one safe character set, checked where ids enter."""

import re
from collections.abc import Iterable

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class UnsafeIdError(ValueError):
    """An id with a character that could break a path or a shell command."""


def validate_ids(ids: Iterable[str], kind: str, source: str) -> None:
    """Raise naming the file and the first offending ids unless every id is in the safe set."""
    bad = [i for i in ids if not SAFE_ID.match(str(i))]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5])
        raise UnsafeIdError(
            f"{source}: {len(bad)} {kind} id(s) use characters outside [A-Za-z0-9._-] "
            f"(first: {shown}). Rename them (no '/', spaces or shell metacharacters) and rerun."
        )
