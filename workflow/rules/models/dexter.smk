# dexter: DExTER (Menichelli et al. 2021) re-implemented (hapexpr.dexter): domain search and LassoCV on the
# reference windows of the training genes; applied to every unique haplotype window, one job per chromosome.


rule train_dexter:
    input:
        genes="results/genes/genes.tsv",
        sequences=haplotype_stores(),
    output:
        weights="results/models/dexter/model.safetensors",
        config="results/models/dexter/config.json",
        domains="results/models/dexter/domains.tsv",
    log:
        "logs/train_dexter.log",
    benchmark:
        "results/runtime/train_dexter.tsv"
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
        genes="results/genes/genes.tsv",
        expression="results/expression/expression.parquet",
        individuals="results/individuals.tsv",
        weights="results/models/dexter/model.safetensors",
        config="results/models/dexter/config.json",
    output:
        "results/predictions/dexter/{chrom}.parquet",
    log:
        "logs/predict_dexter/{chrom}.log",
    benchmark:
        "results/runtime/predict_dexter/{chrom}.tsv"
    conda:
        "../../envs/dexter.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        window=model_window("dexter"),
        protocols=PROTOCOLS,
    script:
        "../../scripts/predict_dexter.py"
