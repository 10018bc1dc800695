"""Issue 16, item 4: several tissues in one run. The small run with a second tissue whose personal matrix is a local
file (other individuals, other genes, other values): every model, metric, association and risk figure is per tissue,
each tissue's rows carry its own targets, and the report has a page set per tissue. The same run's provenance page
(issue 14, item 5): this run's jobs only, requested beside used resources, versions. Then a GTEx-only tissue: its
targets on the tiny real-run data set, its place in the real config's DAG (cross-gene only), and the config errors."""

import gzip
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, SMALL_ARGS, real_config, run_snakemake, small_config

pytestmark = pytest.mark.slow

PROFILE = ("--profile", str(ROOT / "profiles" / "default"))
CHEAP = {"gc_cpg", "elastic_net"}  # a sequence model (both protocols) and the elastic net (the traits read it)


def second_tissue(simulated, path):
    """Tissue B: the simulated matrix's individuals but the first two, genes but the last, values rescaled and
    shuffled across individuals (so that B's targets are its own), written as a Geuvadis-style gzip matrix."""
    table = pd.read_csv(simulated, sep="\t")
    ids, values = table.iloc[:-1, :4], table.iloc[:-1, 6:]
    rng = np.random.default_rng(5)
    values = pd.DataFrame(rng.permuted(values.to_numpy(), axis=1) * 2.0 + 1.0, columns=values.columns)
    out = pd.concat([ids, values], axis=1)
    with gzip.open(path, "wt") as fh:
        out.to_csv(fh, sep="\t", index=False, float_format="%.5f")
    out = out.set_index(out.columns[0])
    out.index = out.index.str.replace(r"\.\d+$", "", regex=True)  # versionless, as the workflow keys genes
    return out


@pytest.fixture(scope="module")
def two_tissues(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tissues")
    run_snakemake(workdir, *SMALL_ARGS, "--cores", "2", "resources/expression/expression.txt.gz")
    matrix = second_tissue(workdir / "resources/expression/expression.txt.gz", workdir / "b.txt.gz")
    models = small_config()["models"]
    overrides = {"models": {m: {"enabled": m in CHEAP} for m, p in models.items() if "enabled" in p},
                 "tissues": {"A": {"expression": "simulated"},
                             "B": {"expression": {"url": str(workdir / "b.txt.gz"), "format": "geuvadis"}}}}
    path = workdir / "tissues.yaml"
    path.write_text(yaml.safe_dump(overrides))
    # benchmark files a previous run could have left: a disabled model's job, a chromosome not in this config
    for stale in ("results/runtime/train_kmer_ridge.tsv", "results/runtime/A/train_kmer_ridge.tsv",
                  "results/runtime/haplotypes/chr9.tsv"):
        (workdir / stale).parent.mkdir(parents=True, exist_ok=True)
        (workdir / stale).write_text("s\th:m:s\tmax_rss\n99999.0\t27:46:39\t1.0\n")
    run_snakemake(workdir, *SMALL_ARGS, str(path), "--cores", "2")
    return workdir, matrix


def test_every_model_is_trained_predicted_and_scored_per_tissue(two_tissues):
    workdir, matrix = two_tissues
    summary = pd.read_csv(workdir / "results/benchmark/summary.tsv", sep="\t")
    ours = summary[summary["source"] == "this run"]
    for tissue in ("A", "B"):
        assert set(ours.loc[ours["tissue"] == tissue, "model"]) == CHEAP, tissue
        for name in CHEAP:
            assert (workdir / f"results/predictions/{tissue}/{name}.parquet").is_file()
        assert (workdir / f"results/models/{tissue}/gc_cpg/model.safetensors").is_file()
    a = pd.read_parquet(workdir / "results/predictions/A/elastic_net.parquet")
    b = pd.read_parquet(workdir / "results/predictions/B/elastic_net.parquet")
    # B's rows: B's genes (not the gene B lacks) and B's values as the target
    b_ok = b[b["status"] == "ok"]
    assert not b_ok.empty and set(b_ok["gene_id"]) <= set(matrix.index)
    observed = b_ok.apply(lambda r: matrix.at[r["gene_id"], r["individual"]], axis=1)
    np.testing.assert_allclose(b_ok["y_true"], observed, atol=1e-4)
    # the individuals B lacks have no target there, and they do in A
    lacking = set(pd.read_csv(workdir / "resources/expression/expression.txt.gz", sep="\t").columns[4:6])
    assert set(b.loc[b["individual"].isin(lacking), "status"]) <= {"skipped: no target"}
    assert (a.loc[a["individual"].isin(lacking), "status"] == "ok").any()
    # a model fitted on B's targets predicts other values than the one fitted on A's
    cg = {t: pd.read_parquet(workdir / f"results/predictions/{t}/gc_cpg.parquet") for t in ("A", "B")}
    cg = {t: d[d["protocol"] == "cross_gene"].set_index("gene_id")["y_pred"] for t, d in cg.items()}
    common = cg["A"].index.intersection(cg["B"].index)
    assert not np.allclose(cg["A"][common], cg["B"][common])


def test_traits_and_the_report_have_the_tissue_axis(two_tissues):
    workdir, _ = two_tissues
    for table in ("association", "discoveries", "risk"):
        frame = pd.read_csv(workdir / f"results/traits/{table}.tsv", sep="\t")
        assert set(frame["tissue"]) == {"A", "B"}, table
    summary = pd.read_csv(workdir / "results/benchmark/summary.tsv", sep="\t")
    risk = summary[summary["source"] == "this run (trait risk)"]
    assert set(risk["tissue"]) == {"A", "B"}
    for tissue in ("A", "B"):
        for page in ("summary.html", "benchmark_grid.html", "cross_gene.png", "per_gene.html", "traits.html"):
            assert (workdir / "results/report" / tissue / page).stat().st_size > 0, (tissue, page)
        grid = (workdir / "results/report" / tissue / "benchmark_grid.html").read_text()
        assert "elastic net" in grid.lower()
    overview = (workdir / "results/report/overview.html").read_text()
    assert "genes with a target in tissue A" in overview and "genes with a target in tissue B" in overview
    # the HTML report labels each page with its tissue: tests/workflow/test_report.py, on the demo's report


def gtex_tissues():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    sources = dict(config["sources"])
    lcl = {"expression": sources.pop("expression"), "gtex_tissue": "Cells_EBV-transformed_lymphocytes"}
    return sources, {"LCL": lcl, "Whole_Blood": {"gtex_tissue": "Whole_Blood"}}


def test_a_gtex_only_tissue_is_cross_gene_only_in_the_dag(tmp_path):
    sources, tissues = gtex_tissues()
    path = real_config(tmp_path, sources=sources, tissues=tissues)
    out = run_snakemake(tmp_path, *PROFILE, "--configfile", str(path), "--replace-workflow-config", "-n").stdout
    assert "resources/expression/tissues/LCL.txt.gz" in out  # each tissue's matrix is fetched by its own rule
    assert "results/predictions/LCL/elastic_net.parquet" in out
    assert "results/predictions/Whole_Blood/kmer_ridge.parquet" in out
    assert "results/predictions/Whole_Blood/elastic_net" not in out
    assert "results/models/Whole_Blood/gta/gta/cross_gene/model.safetensors" in out
    assert "results/models/Whole_Blood/gta/gta/cross_individual" not in out
    assert "results/models/LCL/gta/gta/cross_individual/model.safetensors" in out


def html_rows(html: str, title: str) -> list[str]:
    section = html.split(f"<h3>{title}</h3>", 1)[1].split("<h3>", 1)[0]
    return re.findall(r"<tr.*?</tr>", section, re.S)


def test_provenance_lists_this_runs_jobs_with_requested_and_used_resources(two_tissues):
    workdir, _ = two_tissues
    html = (workdir / "results" / "report" / "provenance.html").read_text()
    runtime = html_rows(html, "Runtime")
    jobs = " ".join(runtime)
    for job in ("simulate", "genes", "haplotypes/chr1", "A/train_gc_cpg", "B/predict_gc_cpg/chr4", "evaluate"):
        assert f">{job}<" in jobs, job
    assert "kmer_ridge" not in jobs and "chr9" not in jobs and "99999" not in jobs
    # requested beside used: the profile's benchmark-extended records threads, mem_mb, runtime of each job
    header = runtime[0]
    for column in ("wall_s", "max_rss_mb", "threads", "mem_mb", "runtime_min"):
        assert column in header, column
    train = next(row for row in runtime if ">A/train_gc_cpg<" in row)
    assert ">8000<" in train and ">60<" in train  # its rule's mem_mb and runtime (attempt 1)
    # versions: no --sdm conda here, so every job ran in Snakemake's environment, whose versions are listed
    versions = " ".join(html_rows(html, "Versions"))
    assert "no --sdm conda" in versions and ">pandas<" in versions


def test_a_gtex_only_tissue_gets_its_targets_from_the_gtex_column(tmp_path):
    """The tiny real-run data set (test_bad_input.py) with two tissues, to the genes stage: each personal matrix is
    fetched by its own rule, the GTEx-only tissue's targets are log1p of its column and it has no individual."""
    from test_bad_input import write_config, write_inputs

    inputs = write_inputs(tmp_path)
    gct = inputs / "gtex.gct"
    gct.write_text("#1.2\n2\t2\nName\tDescription\tLCL\tLiver\nENSG00000.3\tA\t2\t7\nENSG00001.3\tB\t4\t0\n")
    config = write_config(tmp_path, inputs, tissues={
        "LCL": {"expression": {"url": str(inputs / "expression.txt")}, "gtex_tissue": "LCL"},
        "Liver": {"gtex_tissue": "Liver"}}, evaluation={"cross_gene_target": "gtex"})
    settings = yaml.safe_load(config.read_text())
    settings["sources"]["gtex"] = {"url": str(gct)}
    del settings["sources"]["expression"]
    config.write_text(yaml.safe_dump(settings))
    run_snakemake(tmp_path, "--configfile", str(config), "--cores", "1", "results/genes/genes.tsv")
    liver = pd.read_csv(tmp_path / "results/genes/Liver/genes.tsv", sep="\t").set_index("gene_id")
    lcl = pd.read_csv(tmp_path / "results/genes/LCL/genes.tsv", sep="\t").set_index("gene_id")
    assert liver["y_cross_gene"].to_dict() == pytest.approx({"ENSG00000": np.log1p(7), "ENSG00001": 0.0})
    assert lcl["y_cross_gene"].to_dict() == pytest.approx({"ENSG00000": np.log1p(2), "ENSG00001": np.log1p(4)})
    assert (liver["split"] == lcl["split"]).all()
    assert pd.read_parquet(tmp_path / "results/expression/Liver.parquet").columns.tolist() == ["gene_id"]
    assert len(pd.read_parquet(tmp_path / "results/expression/LCL.parquet").columns) == 1 + 4
    assert (tmp_path / "resources/expression/tissues/LCL.txt.gz").is_file()


def test_tissue_settings_that_cannot_work_stop_before_any_job(tmp_path):
    """Each a problem named at start (check_config lists them all at once): two runs, one per cross-gene target."""
    real_sources = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["sources"]
    sources, tissues = gtex_tissues()
    del tissues["Whole_Blood"]["gtex_tissue"]
    tissues["LCL"]["expression"] = "simulated"
    for changes, messages in [
        ({"sources": real_sources, "tissues": tissues},  # cross_gene_target gtex, as config.yaml has it
         ["sources.expression is set but so is tissues", "tissues.Whole_Blood.gtex_tissue is missing",
          "tissues.LCL.expression is 'simulated', but this is no demo"]),
        ({"sources": sources, "tissues": gtex_tissues()[1], "evaluation": {"cross_gene_target": "mean"}},
         ["tissues.Whole_Blood has no expression matrix"]),
    ]:
        proc = run_snakemake(tmp_path, *PROFILE, "--configfile", str(real_config(tmp_path, **changes)),
                             "--replace-workflow-config", "-n", check=False)
        assert proc.returncode != 0
        for message in messages:
            assert message in proc.stdout + proc.stderr, message
