# The evaluate stage (hapexpr.evaluate): the same metrics for every prediction file, and the side-by-side summary.


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
    input:
        "results/predictions/{name}.parquet",
    output:
        metrics="results/metrics/{name}.tsv",
        per_gene="results/metrics/{name}.per_gene.tsv",
    log:
        "logs/evaluate/{name}.log",
    benchmark:
        "results/runtime/evaluate/{name}.tsv"
    wildcard_constraints:
        name="[A-Za-z0-9_-]+",
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(30),
    params:
        bootstrap=cfg("evaluation", "bootstrap", default=1000),
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule benchmark_summary:
    input:
        expand("results/metrics/{name}.tsv", name=prediction_names()),
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
