# The report stage (hapexpr.report): figures and tables marked for `snakemake --report`.


rule report_overview:
    input:
        genes="results/genes/genes.tsv",
        tissue_genes=expand("results/genes/{tissue}/genes.tsv", tissue=TISSUES),
        dropped=expand("results/genes/{tissue}/dropped.tsv", tissue=TISSUES),
        individuals="results/individuals.tsv",
    output:
        json=OVERVIEW,
        html=report(
            "results/report/overview.html",
            caption="../report/overview.rst",
            category="1. Summary",
            labels={"tissue": "all", "table": "data used"},
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
    params:
        tissues=TISSUES,
    script:
        "../scripts/report_overview.py"


rule report_summary:
    input:
        "results/benchmark/summary.tsv",
    output:
        report(
            "results/report/{tissue}/summary.html",
            caption="../report/summary.rst",
            category="1. Summary",
            labels={"tissue": "{tissue}", "table": "benchmark summary"},
        ),
    log:
        "logs/report/{tissue}/summary.log",
    benchmark:
        "results/runtime/report/{tissue}/summary.tsv"
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
            "results/report/{tissue}/benchmark_grid.html",
            caption="../report/benchmark_grid.rst",
            category="1. Summary",
            labels={"tissue": "{tissue}", "table": "protocol x model grid"},
        ),
    log:
        "logs/report/{tissue}/grid.log",
    benchmark:
        "results/runtime/report/{tissue}/grid.tsv"
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


rule report_haplotypes:
    input:
        individuals="results/individuals.tsv",
        counts=haplotype_counts(),
    output:
        report(
            "results/report/haplotypes.png",
            caption="../report/haplotypes.rst",
            category="4. Data",
            labels={"tissue": "all", "figure": "haplotype statistics"},
        ),
    log:
        "logs/report/haplotypes.log",
    benchmark:
        "results/runtime/report/haplotypes.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    script:
        "../scripts/report_haplotypes.py"


rule report_figures:
    input:
        predictions=lambda wc: expand(
            "results/predictions/{tissue}/{name}.parquet", tissue=wc.tissue, name=prediction_names(wc.tissue)
        ),
        per_gene=lambda wc: expand(
            "results/metrics/{tissue}/{name}.per_gene.tsv", tissue=wc.tissue, name=prediction_names(wc.tissue)
        ),
        genes=tissue_genes,
        counts=haplotype_counts(),
        truth=truth_genes(),
    output:
        cross_gene=report(
            "results/report/{tissue}/cross_gene.png",
            caption="../report/cross_gene.rst",
            category="2. Across genes",
            labels={"tissue": "{tissue}", "figure": "predicted vs observed"},
        ),
        per_gene_r=report(
            "results/report/{tissue}/per_gene_r.png",
            caption="../report/per_gene_r.rst",
            category="3. Across individuals",
            labels={"tissue": "{tissue}", "figure": "per-gene r distribution"},
        ),
        versus=report(
            "results/report/{tissue}/versus_elastic_net.png",
            caption="../report/versus_elastic_net.rst",
            category="3. Across individuals",
            labels={"tissue": "{tissue}", "figure": "each model vs elastic net"},
        ),
        table=report(
            "results/report/{tissue}/per_gene.html",
            caption="../report/per_gene.rst",
            category="3. Across individuals",
            labels={"tissue": "{tissue}", "figure": "per-gene table"},
        ),
    log:
        "logs/report/{tissue}/figures.log",
    benchmark:
        "results/runtime/report/{tissue}/figures.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(20),
    params:
        names=lambda wildcards: prediction_names(wildcards.tissue),
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
            "results/report/{tissue}/traits_association.png",
            caption="../report/traits_association.rst",
            category="7. Traits",
            labels={"tissue": "{tissue}", "figure": "gene-level association"},
        ),
        risk=report(
            "results/report/{tissue}/traits_risk.png",
            caption="../report/traits_risk.rst",
            category="7. Traits",
            labels={"tissue": "{tissue}", "figure": "individual risk"},
        ),
        table=report(
            "results/report/{tissue}/traits.html",
            caption="../report/traits.rst",
            category="7. Traits",
            labels={"tissue": "{tissue}", "table": "discoveries and risk"},
        ),
    log:
        "logs/report/{tissue}/traits.log",
    benchmark:
        "results/runtime/report/{tissue}/traits.tsv"
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
            labels={"tissue": "all", "figure": "training curves"},
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
        summary=expand("results/report/{tissue}/summary.html", tissue=TISSUES),
        grid=expand("results/report/{tissue}/benchmark_grid.html", tissue=TISSUES),
        figures=expand("results/report/{tissue}/cross_gene.png", tissue=TISSUES),
        haplotypes="results/report/haplotypes.png",
        traits=trait_report_page(),
    output:
        report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            category="6. Provenance",
            labels={"tissue": "all", "table": "inputs, versions, runtimes"},
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
        run_wildcards={"chrom": CHROMOSOMES, "name": prediction_names(), "tissue": TISSUES},
        environments=run_environments,
        conda=used_conda(),
    script:
        "../scripts/report_provenance.py"
