# The evaluate stage (hapexpr.evaluate): every prediction file scored together on common gene sets, and the summary.


rule gather_predictions:
    input:
        predictions=lambda wc: expand(
            "results/predictions/{name}/{chrom}.parquet",
            name=wc.name,
            chrom=CHROMOSOMES,
        ),
    output:
        predictions="results/predictions/{name}.parquet",
    log:
        "logs/gather_predictions/{name}.log",
    benchmark:
        "results/runtime/gather_predictions/{name}.tsv"
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
    # All models together: every model of a protocol is scored on the same genes (hapexpr.evaluate).
    input:
        expand("results/predictions/{name}.parquet", name=prediction_names()),
    output:
        metrics=expand("results/metrics/{name}.tsv", name=prediction_names()),
        per_gene=expand("results/metrics/{name}.per_gene.tsv", name=prediction_names()),
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
        names=prediction_names(),
        bootstrap=cfg("evaluation", "bootstrap", default=1000),
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule benchmark_summary:
    input:
        metrics=expand("results/metrics/{name}.tsv", name=prediction_names()),
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
