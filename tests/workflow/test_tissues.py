"""Issue 16, item 4: several tissues in one run. The small run with a second tissue whose personal matrix is a local
file (other individuals, other genes, other values): every model, metric, association and risk figure is per tissue,
each tissue's rows carry its own targets, and the report has a page set per tissue. Then the DAG of the real config
with a GTEx-only tissue (cross-gene only: no elastic net, no individual protocols there) and the config errors."""

import gzip

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, SMALL_ARGS, real_config, run_snakemake, small_config

pytestmark = pytest.mark.slow

PROFILE = ("--profile", str(ROOT / "profiles" / "default"))
CHEAP = {"gc_cpg", "kmer_ridge", "elastic_net", "elastic_net_window"}


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
    run_snakemake(workdir, *SMALL_ARGS, str(path), "--cores", "2")
    run_snakemake(workdir, *SMALL_ARGS, str(path), "--cores", "2", "--report", "report.zip")
    return workdir, matrix


def test_every_model_is_trained_predicted_and_scored_per_tissue(two_tissues):
    workdir, matrix = two_tissues
    summary = pd.read_csv(workdir / "results/benchmark/summary.tsv", sep="\t")
    ours = summary[summary["source"] == "this run"]
    models = {"gc_cpg", "kmer_ridge", "elastic_net", "elastic_net_window"}
    for tissue in ("A", "B"):
        assert set(ours.loc[ours["tissue"] == tissue, "model"]) == models, tissue
        for name in models:
            assert (workdir / f"results/predictions/{tissue}/{name}.parquet").is_file()
    assert (workdir / "results/models/A/kmer_ridge/model.safetensors").is_file()
    assert (workdir / "results/models/B/kmer_ridge/model.safetensors").is_file()
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
    cg = {t: pd.read_parquet(workdir / f"results/predictions/{t}/kmer_ridge.parquet") for t in ("A", "B")}
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
    assert (workdir / "report.zip").stat().st_size > 0


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


@pytest.mark.parametrize("change, message", [
    ("both", "sources.expression is set but so is tissues"),
    ("no_gtex_column", "tissues.Whole_Blood.gtex_tissue is missing"),
    ("mean_without_matrix", "tissues.Whole_Blood has no expression matrix"),
    ("simulated_in_a_real_run", "is 'simulated', but this is no demo"),
])
def test_tissue_settings_that_cannot_work_stop_before_any_job(tmp_path, change, message):
    sources, tissues = gtex_tissues()
    changes = {"sources": sources, "tissues": tissues}
    if change == "both":
        changes["sources"] = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["sources"]
    elif change == "no_gtex_column":
        del tissues["Whole_Blood"]["gtex_tissue"]
    elif change == "mean_without_matrix":
        changes["evaluation"] = {"cross_gene_target": "mean"}
    else:
        tissues["LCL"]["expression"] = "simulated"
    proc = run_snakemake(tmp_path, *PROFILE, "--configfile", str(real_config(tmp_path, **changes)),
                         "--replace-workflow-config", "-n", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
