"""SLURM for real (issue 8): the profile on a local single-node cluster (tests/slurm_cluster.py).

Static checks of profiles/slurm need no cluster. The cluster tests run a tiny workflow with the demo's shape
(tests/workflow/slurm_toy: CPU stage -> checkpointing GPU training rule -> CPU evaluation) and then a small DAG of the
workflow's own rules (the small run, tests/config/small.yaml on the demo's config; `small_on_slurm`): every GPU rule,
per-chromosome rules and a local rule. The demo itself runs locally, as `make demo` runs it (tests/conftest.py).
Which rule went where is read from SLURM (`scontrol show job` keeps finished jobs for MinJobAge) and compared with the
resources Snakemake printed for each job; rule names and GPU requests come from the workflow itself (its rule files,
its log, its rule graph), never from a list here.

Checkpoint contract of GPU training rules (profiles/slurm/README.md), used by the preemption tests: the rule's log
says `checkpoint saved at step N` after writing a checkpoint and `resumed from checkpoint at step N` when it starts
from one; checkpoints live outside the rule's declared outputs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import DEMO_CONFIG, SMALL_CONFIG, small_config
from rulefiles import rules
from slurm_cluster import CLUSTER_ENV, GPU_TYPE, PROFILE, ROOT, LocalSlurm, requests_gpu, write_test_profile

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TOY = Path(__file__).with_name("slurm_toy")
SAVED = re.compile(r"checkpoint saved at step (\d+)", re.IGNORECASE)
RESUMED = re.compile(r"resumed from checkpoint at step (\d+)", re.IGNORECASE)
# Stages upstream of every model: a model change must never rerun them (issue 8, item 4).
UPSTREAM_STAGES = re.compile(r"^(simulate|download\w*|individuals|genes|\w*haplotype\w*)$")


# ---------------------------------------------------------------- helpers: the workflow's rules, Snakemake's output
def rule_blocks() -> dict[str, str]:
    return {name: rule.text for name, rule in rules().items()}


def declared_gpu_rules() -> set[str]:
    return {name for name, text in rule_blocks().items() if re.search(r"^\s+gpu\s*=\s*[1-9]", text, re.M)}


def snakemake(workdir: Path, *args: str, env: dict, snakefile: Path, timeout: float = 1800,
              check: bool = True) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(snakefile), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-12000:]}")
    return proc


def printed_jobs(log: str) -> list[dict]:
    """Jobs as Snakemake printed them: [{rule, local, resources: {name: value}}] in order."""
    jobs = []
    for m in re.finditer(r"^(localrule|rule) (\w+):\n((?:    .*\n)+)", log, re.M):
        res = re.search(r"^    resources: (.*)$", m.group(3), re.M)
        resources = dict(item.split("=", 1) for item in res.group(1).split(", ") if "=" in item) if res else {}
        jobs.append({"rule": m.group(2), "local": m.group(1) == "localrule", "resources": resources})
    return jobs


def job_stats(log: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: {rule: count}, without `total`; {} when nothing is to be done."""
    m = re.search(r"^job\s+count\n-+\s+-+\n((?:.+\n)+?)total\s+\d+", log, re.M)
    if not m:
        return {}
    return {line.split()[0]: int(line.split()[1]) for line in m.group(1).splitlines() if line.strip()}


def rule_graph(workdir: Path, *args: str, env: dict, snakefile: Path) -> dict[str, set[str]]:
    """{rule: rules it feeds} from `snakemake --rulegraph`."""
    out = snakemake(workdir, "--rulegraph", *args, env=env, snakefile=snakefile).stdout
    labels = dict(re.findall(r"^\s*(\d+)\[label = \"(\w+)\"", out, re.M))
    graph = {name: set() for name in labels.values()}
    for a, b in re.findall(r"^\s*(\d+) -> (\d+)", out, re.M):
        graph[labels[a]].add(labels[b])
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def upstream(graph: dict[str, set[str]], rule: str) -> set[str]:
    return {r for r in graph if rule in reachable(graph, r)}


def slurm_jobs(cluster, workdir: Path) -> list[dict]:
    """SLURM jobs submitted from `workdir`, each with the rule read from the plugin's --comment."""
    jobs = []
    for job in cluster.jobs():
        if job.get("WorkDir") != str(workdir):
            continue
        m = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", job.get("Comment", ""))
        jobs.append({**job, "rule": m.group(1) if m else None})
    return jobs


def minutes(limit: str) -> int:
    """SLURM's TimeLimit ([D-]HH:MM:SS) in whole minutes."""
    days, _, hms = limit.rpartition("-")
    hours, mins, secs = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + hours * 60 + mins + (secs > 0)


def megabytes(memory: str) -> int:
    """SLURM's MinMemoryNode (e.g. 16000M, 16G) in MB."""
    return round(float(memory[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[memory[-1]])


def check_placement(cluster, workdir: Path, log: str) -> dict[str, list[dict]]:
    """Every job Snakemake submitted went to SLURM; GPU rules to `gpu` with a GPU request of the GPU model, others to
    `cpu` without; each job got the memory, time limit and CPUs per GPU its rule requested (mem_mb and runtime, which
    attempt_scaled sets, and cpus_per_gpu, as Snakemake printed them)."""
    printed = printed_jobs(log)
    assert printed, f"no job printed by Snakemake:\n{log[-3000:]}"
    gpu_rules = {j["rule"] for j in printed if int(j["resources"].get("gpu", 0) or 0) > 0}
    remote = {j["rule"] for j in printed if not j["local"]}
    local = {j["rule"] for j in printed if j["local"]}
    by_rule: dict[str, list[dict]] = {}
    for job in slurm_jobs(cluster, workdir):
        by_rule.setdefault(job["rule"], []).append(job)
    assert set(by_rule) == remote, f"submitted {sorted(by_rule)}, Snakemake ran remotely {sorted(remote)}"
    assert not local & set(by_rule), f"local rules went to SLURM: {sorted(local & set(by_rule))}"
    for rule, jobs in by_rule.items():
        for job in jobs:
            where = f"{rule} (SLURM job {job['JobId']}: Partition={job['Partition']}, TRES {job.get('TresPerJob')})"
            if rule in gpu_rules:
                assert job["Partition"] == "gpu" and requests_gpu(job), f"GPU rule not on the GPU partition: {where}"
                assert GPU_TYPE in job.get("TresPerJob", ""), f"GPU model not requested: {where}"
            else:
                assert job["Partition"] == "cpu" and not requests_gpu(job), f"CPU rule placed as a GPU job: {where}"
            requested = [j["resources"] for j in printed if j["rule"] == rule]
            assert (megabytes(job["MinMemoryNode"]), minutes(job["TimeLimit"])) in {
                (int(r["mem_mb"]), int(r["runtime"])) for r in requested}, (where, job["MinMemoryNode"],
                                                                           job["TimeLimit"], requested)
            if any("cpus_per_gpu" in r for r in requested):
                assert job.get("CpusPerTres") in {f"gres:gpu:{r['cpus_per_gpu']}" for r in requested}, (
                    where, job.get("CpusPerTres"), requested)
    return by_rule


def kill_and_resume(cluster, workdir: Path, rule: str, run_args: list[str], rerun_args: list[str], env: dict,
                    snakefile: Path, how: str = "scancel", min_step: int = 1,
                    timeout: float = 1800) -> dict[Path, tuple[int, int]]:
    """Run until a job of `rule` logs a checkpoint at step >= min_step, then kill its SLURM jobs: `scancel` (the run
    fails; rerun with `rerun_args`) or `requeue` (SLURM restarts the same job after its 2-minute requeue delay; the
    run must succeed). Returns {rule log: (last step it logged as saved before the kill, step it resumed from)}."""
    started = time.time()
    transcript = workdir / f"kill_and_resume.{how}.out"
    with open(transcript, "w") as out:
        proc = subprocess.Popen([SNAKEMAKE, "-s", str(snakefile), "-d", str(workdir), *run_args], stdout=out,
                                stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    saved: dict[Path, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while not saved:
            assert proc.poll() is None, (f"run ended before a checkpoint of {rule}:\n{transcript.read_text()[-5000:]}")
            assert time.monotonic() < deadline, f"no checkpoint of {rule} within {timeout} s"
            for log in (workdir / "logs").rglob("*"):
                if log.is_file() and log.stat().st_mtime >= started:
                    steps = [int(s) for s in SAVED.findall(log.read_text(errors="replace"))]
                    if steps and max(steps) >= min_step:
                        saved[log] = max(steps)
            time.sleep(0.5)
        victims = [j for j in slurm_jobs(cluster, workdir)
                   if j["rule"] == rule and j["JobState"] in ("RUNNING", "PENDING", "CONFIGURING")]
        assert victims, f"{rule} logged a checkpoint but no SLURM job of it is running"
        for job in victims:
            kill = ["scancel", job["JobId"]] if how == "scancel" else ["scontrol", "requeue", job["JobId"]]
            subprocess.run(kill, env=cluster.env, check=True, capture_output=True, text=True)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
    log_text = transcript.read_text()
    if how == "scancel":
        assert proc.returncode != 0, f"the run survived scancel of {rule}:\n{log_text[-3000:]}"
        rerun = snakemake(workdir, *rerun_args, env=env, snakefile=snakefile, timeout=timeout)
        log_text = rerun.stdout + rerun.stderr
    else:
        assert proc.returncode == 0, f"the run did not survive a requeue of {rule}:\n{log_text[-6000:]}"
    result = {}
    for log, step in saved.items():
        resumed = [int(s) for s in RESUMED.findall(log.read_text(errors="replace"))]
        assert resumed, f"{log} does not say it resumed:\n{log.read_text()[-2000:]}\n{log_text[-3000:]}"
        result[log] = (step, resumed[-1])
    return result


# ---------------------------------------------------------------- static: profiles/slurm (no cluster needed)
def test_profile_sends_every_gpu_rule_to_the_gpu_partition():
    profile = yaml.safe_load(PROFILE.read_text())
    routed = profile.get("set-resources", {})
    missing = declared_gpu_rules() - set(routed)
    assert not missing, f"GPU rules absent from set-resources in {PROFILE}: {sorted(missing)} (add `<rule>: *gpu`)"
    for rule, resources in routed.items():
        assert "HAPEXPR_GPU_PARTITION" in resources.get("slurm_partition", ""), f"{rule}: not the GPU partition"
        assert "HAPEXPR_GPU_MODEL" in resources.get("gpu_model", ""), f"{rule}: no GPU model"


def test_profile_lists_no_rule_that_does_not_exist():
    gpu_rules = declared_gpu_rules()
    assert gpu_rules, "no rule declares gpu=1: the pattern of declared_gpu_rules no longer matches the rule files"
    stale = set(yaml.safe_load(PROFILE.read_text())["set-resources"]) - gpu_rules
    assert not stale, f"{PROFILE} routes rules that declare no GPU or do not exist: {sorted(stale)}"


def test_profile_has_the_run_settings_of_issue_8():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    for key in ("rerun-incomplete", "keep-going", "slurm-requeue", "benchmark-extended"):
        assert profile[key] is True, key
    assert "replace-workflow-config" not in profile  # it broke --config key=value (issue 14)
    assert profile["retries"] >= 1 and profile["latency-wait"] >= 30 and profile["jobs"] >= 1
    defaults = profile["default-resources"]
    assert {"slurm_account", "slurm_partition", "mem_mb", "runtime"} <= set(defaults)
    assert "HAPEXPR_SLURM_ACCOUNT" in defaults["slurm_account"]
    assert "HAPEXPR_CPU_PARTITION" in defaults["slurm_partition"]
    assert "slurm_extra" not in defaults and not any("slurm_extra" in r for r in profile["set-resources"].values())


def test_rules_hold_no_cluster_details_and_downloads_stay_local():
    blocks = rule_blocks()
    for name, text in blocks.items():
        for word in ("slurm_partition", "slurm_account", "slurm_extra", "gpu_model", "qos"):
            assert word not in text, f"rule {name} sets {word}: cluster details belong in profiles/slurm"
        if name.startswith("download"):
            assert re.search(r"^\s+localrule:\s*True", text, re.M), f"download rule {name} is not a localrule"


def test_workflow_profile_does_not_override_the_slurm_profile():
    """profiles/default is loaded as the workflow profile on every run and wins key by key over --profile."""
    default = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    slurm = yaml.safe_load(PROFILE.read_text())
    clashes = {k: (default[k], slurm[k]) for k in set(default) & set(slurm) if default[k] != slurm[k]}
    assert not clashes, f"profiles/default would override profiles/slurm on a cluster: {clashes}"


def test_profile_dry_run_of_the_real_config_places_every_job(tmp_path):
    """The workflow itself (config/config.yaml, download stage present) through profiles/slurm: each job printed with
    the partition of its kind, GPU rules with the GPU model; local rules stay local."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    inputs = ["resources/reference/genome.fa.gz", "resources/reference/genome.fa.gz.fai",
              "resources/reference/genome.fa.gz.gzi", "resources/annotation/genes.gtf.gz",
              "resources/expression/expression.txt.gz", "resources/samples/populations.tsv",
              "resources/expression/gtex_median_tpm.gct.gz"]
    inputs += [f"resources/vcf/{c}.vcf.gz{ext}" for c in config["chromosomes"] for ext in ("", ".tbi")]
    for name in inputs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    env = {**os.environ, **CLUSTER_ENV}
    out = snakemake(tmp_path, "--profile", str(PROFILE.parent), "-n", "--configfile",
                    str(ROOT / "config" / "config.yaml"), env=env, snakefile=ROOT / "workflow" / "Snakefile").stdout
    jobs = printed_jobs(out)
    assert jobs, out[-3000:]
    # issue 8 item 6: jobs per chromosome and per model, never per individual (3,202 in the real panel)
    too_many = {rule: n for rule, n in job_stats(out).items() if n > 10 * len(config["chromosomes"])}
    assert not too_many, f"rules with more jobs than 10 per chromosome (per individual?): {too_many}"
    for job in jobs:
        res = job["resources"]
        if int(res.get("gpu", 0) or 0) > 0:
            assert res.get("slurm_partition") == "gpu" and res.get("gpu_model") == GPU_TYPE, job
        else:
            assert res.get("slurm_partition") == "cpu" and not res.get("gpu_model"), job


def test_profile_environment_variables_reach_the_jobs(tmp_path):
    """Dry run of the toy workflow: the partitions and GPU model exported by the user land in each job's resources."""
    shutil.copytree(TOY, tmp_path / "wf")
    workdir = tmp_path / "wf"
    profile = write_test_profile(tmp_path / "profile", gpu_rules=("train_toy",))
    env = {**os.environ, "HAPEXPR_CPU_PARTITION": "short", "HAPEXPR_GPU_PARTITION": "a100q",
           "HAPEXPR_GPU_MODEL": "a100", "HAPEXPR_SLURM_ACCOUNT": "lab42"}
    out = snakemake(workdir, "--profile", str(profile), "-n", env=env, snakefile=workdir / "Snakefile").stdout
    jobs = {j["rule"]: j["resources"] for j in printed_jobs(out)}
    assert jobs["train_toy"]["slurm_partition"] == "a100q" and jobs["train_toy"]["gpu_model"] == "a100"
    assert jobs["prepare"]["slurm_partition"] == "short" and "gpu_model" not in jobs["prepare"]
    assert jobs["prepare"]["slurm_account"] == "lab42"
    unset = {k: v for k, v in env.items() if not k.startswith("HAPEXPR_")}
    out = snakemake(workdir, "--profile", str(profile), "-n", env=unset, snakefile=workdir / "Snakefile").stdout
    jobs = {j["rule"]: j["resources"] for j in printed_jobs(out)}
    assert jobs["train_toy"]["slurm_partition"] == "gpu" and jobs["train_toy"]["gpu_model"] == ""
    assert jobs["prepare"]["slurm_partition"] == "" and jobs["prepare"]["slurm_account"] == ""


# ---------------------------------------------------------------- the local cluster itself
def sbatch(cluster, *args: str) -> str:
    proc = subprocess.run(["sbatch", "--parsable", *args], env=cluster.env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def test_local_cluster_runs_gpu_jobs_on_the_gpu_partition(slurm_cluster, tmp_path):
    gpu = sbatch(slurm_cluster, "-p", "gpu", f"--gpus={GPU_TYPE}:1", "-D", str(tmp_path), "-o", "gpu.out",
                 "--wrap", "echo ${CUDA_VISIBLE_DEVICES:-none}")
    cpu = sbatch(slurm_cluster, "-p", "cpu", "-D", str(tmp_path), "-o", "cpu.out", "--wrap", "echo cpu")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = {j["JobId"]: j for j in slurm_cluster.jobs()}
        if all(jobs.get(i, {}).get("JobState") == "COMPLETED" for i in (gpu, cpu)):
            break
        time.sleep(0.5)
    assert jobs[gpu]["JobState"] == jobs[cpu]["JobState"] == "COMPLETED", (jobs[gpu], jobs[cpu])
    assert jobs[gpu]["Partition"] == "gpu" and requests_gpu(jobs[gpu])
    assert jobs[cpu]["Partition"] == "cpu" and not requests_gpu(jobs[cpu])
    assert (tmp_path / "gpu.out").read_text().strip() == "0"  # SLURM handed the job its (placeholder) GPU


def test_local_cluster_stops_its_daemons_and_removes_its_state():
    if LocalSlurm.unavailable():
        pytest.skip(LocalSlurm.unavailable())
    with LocalSlurm() as cluster:
        procs = list(cluster.procs.values())
        root = cluster.root
        assert procs and all(p.poll() is None for p in procs) and root.is_dir()
    assert all(p.poll() is not None for p in procs) and not root.exists()


# ---------------------------------------------------------------- the local cluster: the toy workflow
def toy_setup(dest: Path, cluster) -> tuple[Path, Path, dict]:
    """The toy workflow in dest with a test profile: (workdir, profile, env)."""
    workdir = dest / "wf"
    shutil.copytree(TOY, workdir)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["python"] = sys.executable
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    profile = write_test_profile(dest / "profile", gpu_rules=("train_toy",))
    return workdir, profile, {**cluster.env, **CLUSTER_ENV}


@pytest.fixture
def toy(tmp_path, slurm_cluster):
    """The toy workflow, not run yet: (workdir, profile, env)."""
    return toy_setup(tmp_path, slurm_cluster)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, slurm_cluster):
    """The toy workflow run once through the profile, shared by the tests that read a finished run:
    (workdir, profile, env, transcript)."""
    workdir, profile, env = toy_setup(tmp_path_factory.mktemp("toy"), slurm_cluster)
    proc = snakemake(workdir, "--profile", str(profile), env=env, snakefile=workdir / "Snakefile", timeout=900)
    return workdir, profile, env, proc.stdout + proc.stderr


@pytest.mark.slow
def test_toy_workflow_runs_through_sbatch_with_gpu_rule_on_gpu_partition(toy_run, slurm_cluster):
    workdir, _, _, log = toy_run
    by_rule = check_placement(slurm_cluster, workdir, log)
    assert set(by_rule) == {"prepare", "train_toy", "evaluate_toy"}
    result = yaml.safe_load((workdir / "results" / "model.txt").read_text())
    assert result["partition"] == "gpu" and result["gpus"] not in (None, ""), result  # SLURM gave it a GPU
    assert (workdir / "results" / "prepared.txt").read_text().strip() == "prepared on cpu"
    assert list((workdir / ".snakemake" / "slurm_logs" / "rule_train_toy").glob("*.log")), "no SLURM log kept"


@pytest.mark.slow
def test_toy_partial_reruns_touch_only_the_changed_model_and_downstream(toy_run, slurm_cluster):
    workdir, profile, env, _ = toy_run
    snakefile = workdir / "Snakefile"
    graph = rule_graph(workdir, env=env, snakefile=snakefile)
    assert job_stats(snakemake(workdir, "-n", env=env, snakefile=snakefile).stdout) == {}
    # --forcerun of the training rule: it and what depends on it, nothing upstream
    forced = job_stats(snakemake(workdir, "-n", "--forcerun", "train_toy", env=env, snakefile=snakefile).stdout)
    assert "train_toy" in forced and set(forced) <= {"train_toy"} | reachable(graph, "train_toy")
    # a changed model parameter: same set
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["learning_rate"] *= 10
    (workdir / "changed.yaml").write_text(yaml.safe_dump(config))
    changed = job_stats(snakemake(workdir, "-n", "--configfile", "changed.yaml", env=env, snakefile=snakefile).stdout)
    assert changed == forced, (changed, forced)
    assert not set(changed) & upstream(graph, "train_toy")
    # and on the cluster: the rerun submits exactly those jobs
    before = max(int(j["JobId"]) for j in slurm_jobs(slurm_cluster, workdir))
    snakemake(workdir, "--profile", str(profile), "--configfile", "changed.yaml", env=env, snakefile=snakefile,
              timeout=900)
    rerun = [j["rule"] for j in slurm_jobs(slurm_cluster, workdir) if int(j["JobId"]) > before]
    assert sorted(rerun) == sorted(r for r in changed if r != "all"), rerun


@pytest.mark.slow
@pytest.mark.parametrize("how", ["scancel", pytest.param("requeue", marks=pytest.mark.long)])
def test_toy_training_killed_mid_run_resumes_from_its_checkpoint(toy, slurm_cluster, how):
    """Preemption: scancel (then a rerun) or a SLURM requeue; training restarts from the last checkpoint, not 0."""
    workdir, profile, env = toy
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config.update(steps=20, seconds_per_step=0.5)  # killed at step >= 3: 8 s to spare before step 20
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    profile = write_test_profile(profile.parent / "profile-no-retry", gpu_rules=("train_toy",), retries=0)
    args = ["--profile", str(profile)]
    resumed = kill_and_resume(slurm_cluster, workdir, "train_toy", args, args, env, workdir / "Snakefile", how=how,
                              min_step=3, timeout=900)
    ((log, (saved, start)),) = resumed.items()
    assert log.name == "train_toy.log"
    assert start >= saved >= 3, (saved, start)
    result = yaml.safe_load((workdir / "results" / "model.txt").read_text())
    assert result["start_step"] == start and result["final_step"] == 20
    assert (workdir / "results" / "evaluate.txt").exists()


# ---------------------------------------------------------------- the local cluster: a small DAG of the demo's rules
# What the small run (tests/config/small.yaml on the demo's config) makes through SLURM: every GPU rule of the
# workflow (test_small_run_on_slurm_covers_every_gpu_rule fails when a new one is not reached from here), the
# per-chromosome rules upstream of them (haplotypes, dnabert2_tokens) and the local rule gta_llm.
SLURM_TARGETS = (
    "results/models/dnabert2/embeddings/chr4.parquet",  # pretrain_dna_lm, dnabert2_tokens, embed_dnabert2
    "results/models/default/dnabert2/finetuned/cross_gene/predictions.parquet",  # train_dnabert2
    "results/predictions/default/gta.parquet",  # gta_llm (local), train_gta, predict_gta
    "results/models/default/gta/attributions.tsv",  # interpret_gta
    "results/predictions/default/cnn.parquet",  # train_cnn, predict_cnn
)


def small_args() -> list[str]:
    """The small run's config files (no profile: dry runs plan locally), then the targets."""
    return ["--configfile", str(DEMO_CONFIG), str(SMALL_CONFIG), "--", *SLURM_TARGETS]


@pytest.fixture(scope="module")
def small_on_slurm(slurm_cluster, tmp_path_factory):
    """The small run's SLURM_TARGETS made through the SLURM profile on the local cluster: (workdir, env, transcript).
    Which rule went where is read from SLURM afterwards (MinJobAge keeps the finished jobs)."""
    workdir = tmp_path_factory.mktemp("small_on_slurm")
    profile = write_test_profile(tmp_path_factory.mktemp("profile"))
    env = {**slurm_cluster.env, **CLUSTER_ENV}
    proc = snakemake(workdir, "--profile", str(profile), *small_args(), env=env,
                     snakefile=ROOT / "workflow" / "Snakefile", timeout=1800)
    return workdir, env, proc.stdout + proc.stderr


def gpu_training_rules(log: str) -> list[str]:
    return sorted({j["rule"] for j in printed_jobs(log)
                   if int(j["resources"].get("gpu", 0) or 0) > 0 and j["rule"].startswith("train_")})


@pytest.mark.slow
def test_small_run_on_slurm_sends_gpu_rules_and_only_them_to_the_gpu_partition(small_on_slurm, slurm_cluster):
    workdir, _, log = small_on_slurm
    by_rule = check_placement(slurm_cluster, workdir, log)
    gpu = {j["rule"] for j in printed_jobs(log) if int(j["resources"].get("gpu", 0) or 0) > 0}
    assert gpu == declared_gpu_rules(), (
        f"the small run reached GPU rules {sorted(gpu)}, the workflow declares {sorted(declared_gpu_rules())}: "
        "add a target of the missing ones to SLURM_TARGETS")
    assert gpu <= set(by_rule)
    local = {j["rule"] for j in printed_jobs(log) if j["local"]}
    assert "gta_llm" in local, sorted(local)
    chromosomes = small_config()["chromosomes"]
    for rule in ("haplotypes", "dnabert2_tokens"):  # per-chromosome rules: one SLURM job per chromosome
        assert len(by_rule[rule]) == len(chromosomes), (rule, [j["JobId"] for j in by_rule[rule]])


@pytest.mark.slow
def test_small_run_partial_reruns(small_on_slurm):
    """Issue 8 item 4: a model change or --forcerun of a training rule reruns it and downstream, never upstream."""
    workdir, env, log = small_on_slurm
    snakefile = ROOT / "workflow" / "Snakefile"
    assert job_stats(snakemake(workdir, "-n", *small_args(), env=env, snakefile=snakefile).stdout) == {}
    graph = rule_graph(workdir, *small_args(), env=env, snakefile=snakefile)
    trainers = gpu_training_rules(log)
    assert trainers, "no GPU training rule in the small run"
    config = small_config()
    for rule in trainers:
        forced = job_stats(snakemake(workdir, "-n", "--forcerun", rule, *small_args(), env=env,
                                     snakefile=snakefile).stdout)
        assert rule in forced and set(forced) <= {rule} | reachable(graph, rule), (rule, forced)
        model = rule.removeprefix("train_")
        section = config.get("models", {}).get(model)
        if section is None:
            continue
        # not `window`: a model's window may set the haplotype store's (the largest one), which rebuilds it by design
        key = next((k for k, v in section.items()
                    if k != "window" and isinstance(v, (int, float)) and not isinstance(v, bool)), None)
        assert key is not None, f"models.{model} has no numeric parameter to change"
        changed_config = {**config, "models": {**config["models"], model: {**section, key: section[key] * 2 + 1}}}
        path = workdir / f"changed_{model}.yaml"
        path.write_text(yaml.safe_dump(changed_config, sort_keys=False))  # as a user edits it: same key order
        changed = job_stats(snakemake(workdir, "-n", "--configfile", str(path), "--replace-workflow-config", "--",
                                      *SLURM_TARGETS, env=env, snakefile=snakefile).stdout)
        model_rules = {r for r in changed if model in r}
        assert model_rules, f"changing models.{model}.{key} reran none of its rules: {changed}"
        allowed = set().union(*({r} | reachable(graph, r) for r in model_rules))
        assert set(changed) <= allowed, f"models.{model}.{key} changed; reran {sorted(set(changed) - allowed)} too"
        assert not [r for r in changed if UPSTREAM_STAGES.match(r)], f"upstream stages rerun: {changed}"


@pytest.mark.slow
@pytest.mark.long
def test_small_run_training_killed_mid_run_resumes_from_its_checkpoint(small_on_slurm, slurm_cluster):
    """A training job of the workflow itself (the slowest of the small run's, so that it is still running when
    killed), at the demo's number of steps, killed by scancel after a checkpoint; the rerun resumes from it."""
    workdir, env, log = small_on_slurm

    def seconds(rule: str) -> float:
        return max(float(path.read_text().splitlines()[1].split("\t")[0])
                   for path in (workdir / "results" / "runtime" / rule).rglob("*.tsv"))

    rule = max(gpu_training_rules(log), key=seconds)
    model = rule.removeprefix("train_")
    demo = yaml.safe_load(DEMO_CONFIG.read_text())["models"][model]
    longer = workdir / f"{model}_demo_steps.yaml"  # a partial config merged onto the small run's
    # the demo's training length and evaluation interval (the small run's short one would stop it early)
    schedule = {k: demo[k] for k in ("steps", "eval_every", "checkpoint_every") if k in demo}
    longer.write_text(yaml.safe_dump({"models": {model: schedule}}))
    profile = write_test_profile(workdir.parent / "profile-no-retry", retries=0)
    args = ["--profile", str(profile), "--configfile", str(DEMO_CONFIG), str(SMALL_CONFIG), str(longer),
            "--until", rule, "--", *SLURM_TARGETS]
    resumed = kill_and_resume(slurm_cluster, workdir, rule, ["--forcerun", rule, *args], args, env,
                              ROOT / "workflow" / "Snakefile", timeout=3000)
    for log_path, (saved, start) in resumed.items():
        assert start >= saved >= 1, (log_path, saved, start)
