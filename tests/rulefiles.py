"""Read the workflow's rules statically (no Snakemake): for tests that check every rule, as others add rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rule_files() -> list[Path]:
    return [ROOT / "workflow" / "Snakefile", *sorted((ROOT / "workflow" / "rules").rglob("*.smk"))]


@dataclass
class Rule:
    name: str
    path: Path  # the file that defines it; conda:/script: paths are relative to its directory
    text: str

    def directive(self, key: str) -> str | None:
        """The first string value of a directive (`conda: "../envs/x.yaml"` -> ../envs/x.yaml), or None."""
        m = re.search(rf"^\s+{key}:\s*\n?\s*[rf]?[\"']([^\"']+)[\"']", self.text, re.M)
        return m.group(1) if m else None

    def has(self, key: str) -> bool:
        return re.search(rf"^\s+{key}:", self.text, re.M) is not None


def rules() -> dict[str, Rule]:
    """{name: Rule} over the Snakefile and every rule file (snakefmt layout: a rule starts at column 0 and ends at
    the next top-level statement)."""
    out = {}
    for path in rule_files():
        text = path.read_text()
        starts = [(m.start(), m.group(2)) for m in re.finditer(r"^(rule|checkpoint)\s+(\w+)\s*:", text, re.M)]
        for start, name in starts:
            nxt = re.search(r"\n(?=\S)", text[start:])  # the next top-level line ends the rule
            out[name] = Rule(name, path, text[start:start + nxt.start()] if nxt else text[start:])
    return out
