"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd on this machine.

Everything lives in one temporary directory (its own slurm.conf, gres.conf, munge key and socket, state, spool,
logs, free TCP ports), so it never touches /etc/slurm or a system munged and two runs do not collide. Clients find
it through SLURM_CONF (see `LocalSlurm.env`). Two partitions share the one node: `cpu` (the default) and `gpu`;
the node has a `gpu` gres of type `GPU_TYPE` backed by placeholder device files, so `--gpus=1` and
`--gpus=testgpu:1` are scheduled like on a real GPU node (nothing uses the "devices"). Accounting is off: the
plugin must use `squeue` for status, which works because MinJobAge keeps finished jobs in the controller.

Needs root (slurmd runs jobs as their user and munged/slurmctld run as root here) and Debian's `slurm-wlm` and
`munge` (`make test` installs them). `LocalSlurm.unavailable()` says why it cannot start, for pytest.skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

PARTITIONS = ("cpu", "gpu")
GPU_TYPE = "testgpu"
N_GPUS = 4
# Declared node size. config_overrides lets slurmd accept more CPUs/memory than the host has, so a rule asking
# for 4 threads or 16 GB is schedulable on a 2-core test machine (memory is not enforced without cgroups).
NODE_CPUS = 8
NODE_MEMORY_MB = 256_000
DAEMONS = ("munged", "slurmctld", "slurmd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daemon(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )


class LocalSlurm:
    """Start with `start()` (or `with LocalSlurm() as cluster:`), stop with `stop()`; `env` is for clients."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="hapexpr-slurm-"))
        self._own_root = root is None
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.root / "etc" / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    @staticmethod
    def unavailable() -> str | None:
        """Why a local cluster cannot be started here, or None when it can."""
        if os.geteuid() != 0:
            return "the local SLURM cluster needs root (slurmd and munged); run the tests as root or in CI"
        missing = [d for d in DAEMONS if _daemon(d) is None]
        missing += [c for c in ("sbatch", "squeue", "scontrol", "sinfo", "scancel") if shutil.which(c) is None]
        if missing:
            return f"{', '.join(missing)} not found: install Debian slurm-wlm and munge (`make test` does)"
        return None

    @property
    def env(self) -> dict[str, str]:
        """The environment for SLURM clients (sbatch, squeue, Snakemake's plugin) talking to this cluster."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        for key in [k for k in env if k.startswith("SLURM_") and k != "SLURM_CONF"]:
            del env[key]
        return env

    # ---- lifecycle ----
    def __enter__(self) -> "LocalSlurm":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        reason = self.unavailable()
        if reason:
            raise RuntimeError(reason)
        try:
            self._write_config()
            self._spawn("munged", [_daemon("munged"), "--foreground", "--force", f"--socket={self.munge_socket}",
                                   f"--key-file={self.root / 'munge' / 'munge.key'}",
                                   f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                                   f"--log-file={self.root / 'log' / 'munged.log'}",
                                   f"--seed-file={self.root / 'munge' / 'munged.seed'}"])
            self._wait_for(lambda: self.munge_socket.exists(), timeout, "munged socket")
            self._spawn("slurmctld", [_daemon("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._wait_for(lambda: self._run(["scontrol", "ping"]).stdout.count("UP") > 0, timeout, "slurmctld")
            self._spawn("slurmd", [_daemon("slurmd"), "-D", "-N", self.node, "-f", str(self.conf)])
            self._wait_for(self._node_idle, timeout, f"node {self.node} idle in sinfo")
        except Exception:
            logs = self.logs()
            self.stop()
            raise RuntimeError(f"the local SLURM cluster did not start:\n{logs}")

    def stop(self) -> None:
        """Cancel every job, stop the daemons this object started (by pid), remove the temporary state."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", "--full", "--quiet", f"--partition={','.join(PARTITIONS)}"])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.jobs(states="RUNNING,COMPLETING,PENDING"):
                time.sleep(0.5)
        for name in reversed(DAEMONS):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- queries ----
    def jobs(self, states: str = "all") -> list[dict[str, str]]:
        """Every job the controller still knows (MinJobAge keeps finished ones), as `scontrol show job` fields."""
        proc = self._run(["scontrol", "show", "job", "--oneliner", "--details"])
        if proc.returncode != 0 or "No jobs in the system" in proc.stdout:
            return []
        wanted = None if states == "all" else set(states.split(","))
        out = []
        for line in proc.stdout.splitlines():
            if not line.strip():
                continue
            job = parse_scontrol_line(line)
            if wanted is None or job.get("JobState") in wanted:
                out.append(job)
        return out

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*.log")) if (self.root / "log").is_dir() else []:
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    # ---- internals ----
    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=30)

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.stdout.log", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        log.close()

    def _wait_for(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}")
            try:
                if ready():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def _node_idle(self) -> bool:
        proc = self._run(["sinfo", "--noheader", "--format=%P %t"])
        states = dict(line.split() for line in proc.stdout.splitlines() if line.strip())
        return all(states.get(p, states.get(p + "*")) == "idle" for p in PARTITIONS)

    def _write_config(self) -> None:
        for sub in ("etc", "munge", "log", "state", "spool", "dev", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6) runs the rule through `srun` after removing
        # every SLURM_* variable, SLURM_CONF included; a real cluster's srun finds /etc/slurm/slurm.conf, ours
        # would not. This wrapper, first on the jobs' PATH (sbatch --export=ALL), puts it back.
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        for i in range(N_GPUS):
            dev = self.root / "dev" / f"gpu{i}"
            try:  # a character device like /dev/null (1, 3): slurmd accepts it silently; a plain file also works
                os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            except OSError:
                dev.touch()
        plugstack = self.root / "etc" / "plugstack.conf"
        plugstack.write_text("")
        (self.root / "etc" / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu Type={GPU_TYPE} File={self.root / 'dev'}/gpu[0-{N_GPUS - 1}]\n"
        )
        log = self.root / "log"
        node = (f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} "
                f"Gres=gpu:{GPU_TYPE}:{N_GPUS} State=UNKNOWN")
        self.conf.write_text(f"""\
# Generated by tests/slurm_cluster.py for one test session; removed afterwards.
ClusterName=hapexpr-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={self.root / 'state'}
SlurmdSpoolDir={self.root / 'spool'}
SlurmctldPidFile={self.root / 'state' / 'slurmctld.pid'}
SlurmdPidFile={self.root / 'spool' / 'slurmd.pid'}
SlurmctldLogFile={log / 'slurmctld.log'}
SlurmdLogFile={log / 'slurmd.log'}
PlugStackConfig={plugstack}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue/scontrol for a day: the plugin's squeue status checks rely on it.
MinJobAge=86400
ReturnToService=2
InactiveLimit=0
KillWait=5
SlurmdParameters=config_overrides
{node}
PartitionName=cpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={self.node} MaxTime=INFINITE State=UP
""")


def parse_scontrol_line(line: str) -> dict[str, str]:
    """`scontrol show job --oneliner` line -> {field: value} (values may contain spaces only in Command/Comment)."""
    fields: dict[str, str] = {}
    for match in re.finditer(r"(\S+?)=(.*?)(?=\s+[A-Za-z][\w/:.]*=|$)", line.strip()):
        fields[match.group(1)] = match.group(2)
    return fields


def requests_gpu(job: dict[str, str]) -> bool:
    """Whether a job (scontrol fields) asked for a GPU: --gpus / --gres=gpu shows up as gres/gpu in its TRES."""
    tres = " ".join(job.get(k, "") for k in ("TresPerJob", "TresPerNode", "TresPerTask", "ReqTRES", "AllocTRES"))
    return "gpu" in tres


# ---- the profile the tests use: profiles/slurm plus what a cluster without accounting needs ----
ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
# What the user would export (profiles/slurm/config.yaml, "YOUR CLUSTER"); the account stays unset (no accounting).
CLUSTER_ENV = {"HAPEXPR_CPU_PARTITION": "cpu", "HAPEXPR_GPU_PARTITION": "gpu", "HAPEXPR_GPU_MODEL": GPU_TYPE}
LOCAL_OVERRIDES = {
    "slurm-status-command": "squeue",  # no sacct without accounting; MinJobAge keeps finished jobs in squeue
    "slurm-no-account": True,
    "slurm-init-seconds-before-status-checks": 1,
    "seconds-between-status-checks": 2,
    "slurm-keep-successful-logs": True,
    "latency-wait": 5,
    "jobs": 6,
}


def gpu_entry(profile: dict) -> dict:
    """The resources the profile gives a GPU rule (all its set-resources entries share the `&gpu` block)."""
    entries = list(profile.get("set-resources", {}).values())
    if not entries:
        raise ValueError(f"{PROFILE} has no set-resources entry for GPU rules")
    return dict(entries[0])


def write_test_profile(dest: Path, gpu_rules: tuple[str, ...] = (), **overrides) -> Path:
    """profiles/slurm/config.yaml + LOCAL_OVERRIDES (+ overrides, keys with '-'), written to dest/config.yaml.

    `gpu_rules` get the profile's own GPU entry, as if listed in profiles/slurm (for the toy workflow's rules).
    """
    import yaml

    profile = yaml.safe_load(PROFILE.read_text())
    profile.update(LOCAL_OVERRIDES)
    profile.update({k.replace("_", "-"): v for k, v in overrides.items()})
    entry = gpu_entry(profile)
    profile["set-resources"] = {**profile["set-resources"], **{rule: dict(entry) for rule in gpu_rules}}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest
