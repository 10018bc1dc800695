"""Overrides and resources on a cluster (issue 14, items 3 and 4), by dry runs:

- `--config key=value` and a partial `--configfile` merge onto the config with both profiles and both configs
  (config/config.yaml is the base; config/demo.yaml, which names its own data, replaces it);
- memory and runtime grow with the attempt (a dry run with Snakemake's `--attempt 2` prints what a retry requests);
- GPU rules state their CPUs per GPU.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import yaml

from conftest import ROOT, run_snakemake
from rulefiles import rules
from slurm_cluster import CLUSTER_ENV

PROFILES = {"default": ROOT / "profiles" / "default", "slurm": ROOT / "profiles" / "slurm"}


@pytest.fixture(autouse=True)
def cluster_variables(monkeypatch):
    """The profile's environment variables, as a user exports them (run_snakemake passes os.environ on)."""
    for name, value in CLUSTER_ENV.items():
        monkeypatch.setenv(name, value)


def printed_jobs(out: str) -> dict[str, dict[str, str]]:
    """{rule: resources} of the jobs a dry run prints (the last job of each rule)."""
    jobs = {}
    for m in re.finditer(r"^(?:localrule|rule) (\w+):\n((?:    .*\n)+)", out, re.M):
        res = re.search(r"^    resources: (.*)$", m.group(2), re.M)
        jobs[m.group(1)] = dict(i.split("=", 1) for i in res.group(1).split(", ") if "=" in i) if res else {}
    return jobs


def dry_run(workdir, profile: str, *args: str, check: bool = True):
    """A dry run as a user types it in a deployed working directory (config/ beside the results)."""
    if not (workdir / "config").exists():
        shutil.copytree(ROOT / "config", workdir / "config")
    return run_snakemake(workdir, "--profile", str(PROFILES[profile]), "-n", *args, check=check)


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("configfile", [None, "config/demo.yaml"])
def test_config_key_value_overrides_merge_onto_the_config(tmp_path, profile, configfile):
    """`--config seed=5` used to fail with "'build' is a required property" (replace-workflow-config). Values of
    --config are read as YAML strings by Snakemake, so keys typed otherwise (booleans, numbers inside sections)
    belong in a --configfile; a list of names works: fewer chromosomes, fewer haplotype jobs. The demo simulates its
    data, the real config downloads it."""
    given = ("--configfile", str(ROOT / configfile)) if configfile else ()
    chromosomes = ["chr1", "chr3", "chr4"] if configfile else ["chr1", "chr8", "chr9", "chr10"]
    out = dry_run(tmp_path, profile, *given, "--config", "seed=5", f"chromosomes=[{', '.join(chromosomes)}]").stdout
    assert out.count("rule haplotypes:") == len(chromosomes)
    assert sorted(re.findall(r"rule haplotypes:\n(?:    .*\n)*?    wildcards: chrom=(\w+)", out)) == sorted(chromosomes)
    assert ("rule simulate:" in out) == bool(configfile) and ("download_reference:" in out) != bool(configfile)
    for rule in ("individuals", "genes", "all"):
        assert f"rule {rule}:" in out, rule
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()  # a dry run writes nothing


@pytest.mark.parametrize("configfile", [None, "config/demo.yaml"])
def test_a_partial_configfile_merges_onto_the_config(tmp_path, configfile):
    partial = tmp_path / "no_dexter.yaml"
    partial.write_text(yaml.safe_dump({"models": {"dexter": {"enabled": False}}}))
    given = (str(ROOT / configfile),) if configfile else ()
    jobs = printed_jobs(dry_run(tmp_path, "default", "--configfile", *given, str(partial)).stdout)
    assert "train_dexter" not in jobs and "train_kmer_ridge" in jobs


def test_two_whole_configs_are_refused_with_the_fix(tmp_path):
    proc = dry_run(tmp_path, "default", "--configfile", str(ROOT / "config" / "config.yaml"),
                   str(ROOT / "config" / "demo.yaml"), check=False)
    assert proc.returncode != 0
    assert "two whole configs were given" in proc.stdout + proc.stderr


def test_a_retry_requests_more_memory_and_time(tmp_path):
    """Every non-local rule's mem_mb and runtime double on attempt 2 (profile `retries: 2`)."""
    first = printed_jobs(dry_run(tmp_path, "slurm", "--configfile", str(ROOT / "config" / "demo.yaml")).stdout)
    second = printed_jobs(dry_run(tmp_path, "slurm", "--configfile", str(ROOT / "config" / "demo.yaml"),
                                  "--attempt", "2").stdout)
    local = {name for name, rule in rules().items() if re.search(r"^\s+localrule: True", rule.text, re.M)}
    checked = sorted(set(first) - local)
    assert len(checked) > 20, checked
    for rule in checked:
        for key in ("mem_mb", "runtime"):
            assert int(second[rule][key]) == 2 * int(first[rule][key]), (rule, key, first[rule], second[rule])
    for rule in local & set(first):
        assert first[rule]["mem_mb"] == second[rule]["mem_mb"], rule


def test_gpu_rules_state_cpus_per_gpu_equal_to_their_threads():
    gpu = {name: rule for name, rule in rules().items() if re.search(r"^\s+gpu=1,", rule.text, re.M)}
    assert gpu
    for name, rule in gpu.items():
        threads = re.search(r"^\s+threads: (\d+)", rule.text, re.M)
        cpus = re.search(r"^\s+cpus_per_gpu=(\d+),", rule.text, re.M)
        assert cpus and threads and cpus.group(1) == threads.group(1), name


def test_slurm_profile_requeues_preempted_jobs_and_records_requested_resources():
    profile = yaml.safe_load((PROFILES["slurm"] / "config.yaml").read_text())
    assert profile["slurm-requeue"] is True and profile["retries"] >= 1
    assert profile["benchmark-extended"] is True
    assert "replace-workflow-config" not in profile


def test_one_gpu_rule_can_take_another_gpu_model(tmp_path):
    """The profiles/slurm/README.md recipe: one rule's `set-resources` entry merges the GPU anchor with its own
    model and partition; the other GPU rules keep the shared ones."""
    profile = tmp_path / "profile"
    shutil.copytree(PROFILES["slurm"], profile)
    text = (profile / "config.yaml").read_text()
    assert "  train_gta: *gpu\n" in text
    (profile / "config.yaml").write_text(text.replace(
        "  train_gta: *gpu\n", "  train_gta:\n    <<: *gpu\n    gpu_model: \"'h100'\"\n"
        "    slurm_partition: \"'gpu_h100'\"\n"))
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copytree(ROOT / "config", workdir / "config")
    jobs = printed_jobs(run_snakemake(workdir, "--profile", str(profile), "-n", "--configfile",
                                      str(ROOT / "config" / "demo.yaml")).stdout)
    assert jobs["train_gta"]["gpu_model"] == "h100" and jobs["train_gta"]["slurm_partition"] == "gpu_h100"
    assert jobs["train_dnabert2"]["gpu_model"] == os.environ["HAPEXPR_GPU_MODEL"]
    assert jobs["train_dnabert2"]["slurm_partition"] == os.environ["HAPEXPR_GPU_PARTITION"]
