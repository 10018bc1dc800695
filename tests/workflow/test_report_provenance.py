"""The report's provenance (issue 14, item 5) on the small run with every model but GC/CpG turned off: runtime and
memory of this run's jobs only (not a disabled model's or another chromosome's benchmark file left on disk),
requested resources beside used, and the package versions of the environment that ran the jobs."""

import re

import pytest
import yaml

from conftest import SMALL_ARGS, small_config, run_snakemake

pytestmark = pytest.mark.slow


def html_rows(html: str, title: str) -> list[str]:
    section = html.split(f"<h3>{title}</h3>", 1)[1].split("<h3>", 1)[0]
    return re.findall(r"<tr.*?</tr>", section, re.S)


def test_provenance_lists_this_runs_jobs_with_requested_and_used_resources(tmp_path):
    models = small_config()["models"]
    off = {name: {"enabled": False} for name, props in models.items() if "enabled" in props and name != "gc_cpg"}
    overrides = tmp_path / "only_gc_cpg.yaml"  # a partial --configfile, merged onto the small run's
    overrides.write_text(yaml.safe_dump({"models": off}))
    # benchmark files a previous run could have left: a disabled model's job, a chromosome not in this config
    stale = [tmp_path / "results" / "runtime" / "train_kmer_ridge.tsv",
             tmp_path / "results" / "runtime" / "haplotypes" / "chr9.tsv"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("s\th:m:s\tmax_rss\n99999.0\t27:46:39\t1.0\n")
    run_snakemake(tmp_path, *SMALL_ARGS, str(overrides), "--cores", "2", "results/report/provenance.html")
    html = (tmp_path / "results" / "report" / "provenance.html").read_text()
    runtime = html_rows(html, "Runtime")
    jobs = " ".join(runtime)
    for job in ("simulate", "genes", "haplotypes/chr1", "default/train_gc_cpg", "default/predict_gc_cpg/chr4",
                "evaluate"):
        assert f">{job}<" in jobs, job
    assert "kmer_ridge" not in jobs and "chr9" not in jobs and "99999" not in jobs
    # requested beside used: the profile's benchmark-extended records threads, mem_mb, runtime of each job
    header = runtime[0]
    for column in ("wall_s", "max_rss_mb", "threads", "mem_mb", "runtime_min"):
        assert column in header, column
    train = next(row for row in runtime if ">train_gc_cpg<" in row)
    assert ">8000<" in train and ">60<" in train  # its rule's mem_mb and runtime (attempt 1)
    # versions: no --sdm conda here, so every job ran in Snakemake's environment, whose versions are listed
    versions = " ".join(html_rows(html, "Versions"))
    assert "no --sdm conda" in versions and ">pandas<" in versions
