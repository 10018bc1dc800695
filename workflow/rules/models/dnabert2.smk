# DNABERT-2: download or pretrain a model, tokenise unique haplotypes, fine-tune per protocol, frozen embeddings + ridge.
# Keys: models.dnabert2 and models.dna_lm (config/README.md, "Models: DNABERT-2").


include: "common_dnabert2.smk"


rule download_model:
    output:
        directory("resources/models/{model_name}"),
    log:
        "logs/download_model/{model_name}.log",
    benchmark:
        "results/runtime/download_model/{model_name}.tsv"
    localrule: True
    conda:
        "../../envs/dnabert2.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=dnabert2_model_spec(),
        revision=dnabert2_cfg("revision"),
    script:
        "../../scripts/download_model.py"


rule pretrain_dna_lm:
    input:
        **reference_files(),
        genes="results/genes/genes.tsv",
    output:
        config="results/models/dna_lm/config.json",
        weights="results/models/dna_lm/model.safetensors",
        tokenizer="results/models/dna_lm/tokenizer.json",
        curve="results/models/dna_lm/pretrain_log.tsv",
    log:
        "logs/pretrain_dna_lm.log",
    benchmark:
        "results/runtime/pretrain_dna_lm.tsv"
    conda:
        "../../envs/dnabert2.yaml"
    threads: 2
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(240),
        gpu=1,
        cpus_per_gpu=2,
    params:
        window=dna_lm_cfg("window", default=config["window"]["length"]),
        settings={**cfg("models", "dna_lm", default={}), "seed": config["seed"]},
        genes=pretrain_genes(),
        allow_cpu=allow_cpu(),
    script:
        "../../scripts/pretrain_dna_lm.py"


rule dnabert2_tokens:
    input:
        sequences=lambda wildcards: haplotype_store(wildcards.chrom)["sequences"],
        genes="results/genes/genes.tsv",
        model=dnabert2_model_files,
    output:
        "results/features/dnabert2_tokens/{chrom}.parquet",
    log:
        "logs/dnabert2_tokens/{chrom}.log",
    benchmark:
        "results/runtime/dnabert2_tokens/{chrom}.tsv"
    conda:
        "../../envs/dnabert2.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        model_dir=dnabert2_model_dir(),
        window=model_window("dnabert2"),
        max_tokens=dnabert2_cfg("max_tokens", default=512),
        too_long=dnabert2_cfg("too_long", default="split"),
    script:
        "../../scripts/dnabert2_tokens.py"


rule train_dnabert2:
    input:
        tokens=dnabert2_tokens(),
        maps=haplotype_maps(),
        genes="results/genes/{tissue}/genes.tsv",
        expression="results/expression/{tissue}.parquet",
        individuals="results/individuals.tsv",
        model=dnabert2_model_files,
    output:
        predictions="results/models/{tissue}/dnabert2/{fit}/{protocol}/predictions.parquet",
        curve="results/models/{tissue}/dnabert2/{fit}/{protocol}/training_log.tsv",
        config="results/models/{tissue}/dnabert2/{fit}/{protocol}/model/config.json",
        weights="results/models/{tissue}/dnabert2/{fit}/{protocol}/model/model.safetensors",
    log:
        "logs/{tissue}/train_dnabert2/{fit}_{protocol}.log",
    benchmark:
        "results/runtime/{tissue}/train_dnabert2/{fit}_{protocol}.tsv"
    priority: 1
    conda:
        "../../envs/dnabert2.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(32000),
        runtime=attempt_scaled(720),
        gpu=1,
        cpus_per_gpu=4,
    params:
        model_dir=dnabert2_model_dir(),
        checkpoint_dir="results/models/{tissue}/dnabert2/{fit}/{protocol}/checkpoint",
        settings=dnabert2_settings(),
        trust_remote_code=dnabert2_cfg("trust_remote_code", default=False),
        allow_cpu=allow_cpu(),
    script:
        "../../scripts/train_dnabert2.py"


rule dnabert2_predictions:
    input:
        lambda wc: expand(
            "results/models/{tissue}/dnabert2/{fit}/{protocol}/predictions.parquet",
            tissue=wc.tissue,
            fit=dnabert2_fit(wc.name),
            protocol=dnabert2_protocols(dnabert2_fit(wc.name), wc.tissue),
        ),
    output:
        "results/predictions/{tissue}/{name}.parquet",
    log:
        "logs/{tissue}/dnabert2_predictions/{name}.log",
    benchmark:
        "results/runtime/{tissue}/dnabert2_predictions/{name}.tsv"
    wildcard_constraints:
        name="dnabert2|dnabert2_shuffled",
    conda:
        "../../envs/dnabert2.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(10),
    script:
        "../../scripts/dnabert2_predictions.py"


rule embed_dnabert2:
    input:
        tokens="results/features/dnabert2_tokens/{chrom}.parquet",
        model=dnabert2_model_files,
    output:
        "results/models/dnabert2/embeddings/{chrom}.parquet",
    log:
        "logs/embed_dnabert2/{chrom}.log",
    benchmark:
        "results/runtime/embed_dnabert2/{chrom}.tsv"
    conda:
        "../../envs/dnabert2.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(240),
        gpu=1,
        cpus_per_gpu=4,
    params:
        model_dir=dnabert2_model_dir(),
        pooling=dnabert2_cfg("pooling", default="cls"),
        max_tokens=dnabert2_cfg("max_tokens", default=512),
        batch_size=dnabert2_cfg("eval_batch_size", default=16),
        reference_only="cross_individual" not in dnabert2_protocols("frozen"),
        precision=dnabert2_cfg("precision", default="auto"),
        trust_remote_code=dnabert2_cfg("trust_remote_code", default=False),
        allow_cpu=allow_cpu(),
    script:
        "../../scripts/embed_dnabert2.py"


rule dnabert2_frozen:
    input:
        embeddings=expand("results/models/dnabert2/embeddings/{chrom}.parquet", chrom=CHROMOSOMES),
        maps=haplotype_maps(),
        genes="results/genes/{tissue}/genes.tsv",
        expression="results/expression/{tissue}.parquet",
        individuals="results/individuals.tsv",
    output:
        predictions="results/predictions/{tissue}/dnabert2_frozen.parquet",
        ridge="results/models/{tissue}/dnabert2/frozen_ridge.tsv",
    log:
        "logs/{tissue}/dnabert2_frozen.log",
    benchmark:
        "results/runtime/{tissue}/dnabert2_frozen.tsv"
    conda:
        "../../envs/dnabert2.yaml"
    threads: 2
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(60),
    params:
        protocols=lambda wildcards: dnabert2_protocols("frozen", wildcards.tissue),
        alphas=dnabert2_cfg("ridge_alphas", default=[0.1, 1.0, 10.0, 100.0, 1000.0]),
    script:
        "../../scripts/dnabert2_frozen.py"
