# The evaluate stage (hapexpr.evaluate): every prediction file scored together on common gene sets, and the summary.


rule gather_predictions:
    input:
        predictions=lambda wc: expand(
            "results/predictions/{tissue}/{name}/{chrom}.parquet",
            tissue=wc.tissue,
            name=wc.name,
            chrom=CHROMOSOMES,
        ),
    output:
        predictions="results/predictions/{tissue}/{name}.parquet",
    log:
        "logs/{tissue}/gather_predictions/{name}.log",
    benchmark:
        "results/runtime/{tissue}/gather_predictions/{name}.tsv"
    wildcard_constraints:
        name="|".join(PER_CHROMOSOME_MODELS),
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(20),
    script:
        "../scripts/gather_tables.py"


rule evaluate:
    # All models of a tissue together: every model of a protocol is scored on the same genes (hapexpr.evaluate).
    input:
        tissue_files("results/predictions/{tissue}/{name}.parquet"),
    output:
        metrics=tissue_files("results/metrics/{tissue}/{name}.tsv"),
        per_gene=tissue_files("results/metrics/{tissue}/{name}.per_gene.tsv"),
    log:
        "logs/evaluate.log",
    benchmark:
        "results/runtime/evaluate.tsv"
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(60),
    params:
        names=tissue_names(),
        bootstrap=cfg("evaluation", "bootstrap", default=1000),
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule benchmark_summary:
    input:
        metrics=tissue_files("results/metrics/{tissue}/{name}.tsv"),
        risk=risk_metrics(),
    output:
        "results/benchmark/summary.tsv",
    log:
        "logs/benchmark_summary.log",
    benchmark:
        "results/runtime/benchmark_summary.tsv"
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    script:
        "../scripts/benchmark_summary.py"
