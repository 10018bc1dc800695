# The report stage (hapexpr.report): figures and tables marked for `snakemake --report`.


rule report_overview:
    input:
        genes="results/genes/genes.tsv",
        dropped="results/genes/dropped.tsv",
        individuals="results/individuals.tsv",
    output:
        json=OVERVIEW,
        html=report(
            "results/report/overview.html",
            caption="../report/overview.rst",
            category="1. Summary",
            labels={"table": "data used"},
        ),
    log:
        "logs/report/overview.log",
    benchmark:
        "results/runtime/report/overview.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    script:
        "../scripts/report_overview.py"


rule report_summary:
    input:
        "results/benchmark/summary.tsv",
    output:
        report(
            "results/report/summary.html",
            caption="../report/summary.rst",
            category="1. Summary",
            labels={"table": "benchmark summary"},
        ),
    log:
        "logs/report/summary.log",
    benchmark:
        "results/runtime/report/summary.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    script:
        "../scripts/report_summary.py"


rule report_grid:
    input:
        "results/benchmark/summary.tsv",
    output:
        report(
            "results/report/benchmark_grid.html",
            caption="../report/benchmark_grid.rst",
            category="1. Summary",
            labels={"table": "protocol x model grid"},
        ),
    log:
        "logs/report/grid.log",
    benchmark:
        "results/runtime/report/grid.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        windows=model_windows(),
    script:
        "../scripts/report_grid.py"


rule report_figures:
    input:
        predictions=report_predictions(),
        per_gene=report_per_gene(),
        genes="results/genes/genes.tsv",
        individuals="results/individuals.tsv",
        counts=haplotype_counts(),
        truth=truth_genes(),
    output:
        cross_gene=report(
            "results/report/cross_gene.png",
            caption="../report/cross_gene.rst",
            category="2. Across genes",
            labels={"figure": "predicted vs observed"},
        ),
        per_gene_r=report(
            "results/report/per_gene_r.png",
            caption="../report/per_gene_r.rst",
            category="3. Across individuals",
            labels={"figure": "per-gene r distribution"},
        ),
        versus=report(
            "results/report/versus_elastic_net.png",
            caption="../report/versus_elastic_net.rst",
            category="3. Across individuals",
            labels={"figure": "each model vs elastic net"},
        ),
        table=report(
            "results/report/per_gene.html",
            caption="../report/per_gene.rst",
            category="3. Across individuals",
            labels={"figure": "per-gene table"},
        ),
        haplotypes=report(
            "results/report/haplotypes.png",
            caption="../report/haplotypes.rst",
            category="4. Data",
            labels={"figure": "haplotype statistics"},
        ),
    log:
        "logs/report/figures.log",
    benchmark:
        "results/runtime/report/figures.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(20),
    params:
        names=prediction_names(),
    script:
        "../scripts/report_figures.py"


rule report_traits:
    input:
        association="results/traits/association.tsv",
        discoveries="results/traits/discoveries.tsv",
        risk="results/traits/risk.tsv",
        truth=trait_truth(),
    output:
        association=report(
            "results/report/traits_association.png",
            caption="../report/traits_association.rst",
            category="7. Traits",
            labels={"figure": "gene-level association"},
        ),
        risk=report(
            "results/report/traits_risk.png",
            caption="../report/traits_risk.rst",
            category="7. Traits",
            labels={"figure": "individual risk"},
        ),
        table=report(
            "results/report/traits.html",
            caption="../report/traits.rst",
            category="7. Traits",
            labels={"table": "discoveries and risk"},
        ),
    log:
        "logs/report/traits.log",
    benchmark:
        "results/runtime/report/traits.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        fdr=trait_setting("fdr", 0.05),
    script:
        "../scripts/report_traits.py"


rule report_training:
    input:
        list(training_logs().values()),
    output:
        report(
            "results/report/training_curves.png",
            caption="../report/training_curves.rst",
            category="5. Training and interpretation",
            labels={"figure": "training curves"},
        ),
    log:
        "logs/report/training.log",
    benchmark:
        "results/runtime/report/training.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        labels=list(training_logs()),
    script:
        "../scripts/report_training.py"


rule report_provenance:
    input:
        # Last in the DAG, so that the runtime file of every other job of the run exists when it reads them.
        summary="results/report/summary.html",
        grid="results/report/benchmark_grid.html",
        figures="results/report/cross_gene.png",
        traits=trait_report_page(),
    output:
        report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            category="6. Provenance",
            labels={"table": "inputs, versions, runtimes"},
        ),
    log:
        "logs/report/provenance.log",
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        sources=cfg("sources", default={}),
        simulate=cfg("simulate"),
        benchmarks=run_benchmark_patterns,
        run_wildcards={"chrom": CHROMOSOMES, "name": prediction_names()},
        environments=run_environments,
        conda=used_conda(),
    script:
        "../scripts/report_provenance.py"
