# dexter: DExTER (Menichelli et al. 2021) re-implemented (hapexpr.dexter): domain search and LassoCV on the
# reference windows of the training genes; applied to every unique haplotype window, one job per chromosome.


rule train_dexter:
    input:
        genes="results/genes/{tissue}/genes.tsv",
        sequences=haplotype_stores(),
    output:
        weights="results/models/{tissue}/dexter/model.safetensors",
        config="results/models/{tissue}/dexter/config.json",
        domains="results/models/{tissue}/dexter/domains.tsv",
    log:
        "logs/{tissue}/train_dexter.log",
    benchmark:
        "results/runtime/{tissue}/train_dexter.tsv"
    conda:
        "../../envs/dexter.yaml"
    threads: 2
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(120),
    params:
        model=dexter_params(),
        window=model_window("dexter"),
    script:
        "../../scripts/train_dexter.py"


rule predict_dexter:
    input:
        unpack(chromosome_store),
        genes="results/genes/{tissue}/genes.tsv",
        expression="results/expression/{tissue}.parquet",
        individuals="results/individuals.tsv",
        weights="results/models/{tissue}/dexter/model.safetensors",
        config="results/models/{tissue}/dexter/config.json",
    output:
        "results/predictions/{tissue}/dexter/{chrom}.parquet",
    log:
        "logs/{tissue}/predict_dexter/{chrom}.log",
    benchmark:
        "results/runtime/{tissue}/predict_dexter/{chrom}.tsv"
    conda:
        "../../envs/dexter.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        window=model_window("dexter"),
        protocols=lambda wildcards: tissue_protocols(wildcards.tissue),
    script:
        "../../scripts/predict_dexter.py"
