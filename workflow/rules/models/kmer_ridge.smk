# kmer_ridge: ridge (penalty chosen on the validation genes, else by GCV) on normalised k-mer counts (k = 1..6),
# trained cross-gene on reference windows, applied to every unique haplotype window (hapexpr.models).


rule train_kmer_ridge:
    input:
        genes="results/genes/{tissue}/genes.tsv",
        sequences=haplotype_stores(),
    output:
        weights="results/models/{tissue}/kmer_ridge/model.safetensors",
        config="results/models/{tissue}/kmer_ridge/config.json",
    log:
        "logs/{tissue}/train_kmer_ridge.log",
    benchmark:
        "results/runtime/{tissue}/train_kmer_ridge.tsv"
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(120),
    params:
        model="kmer_ridge",
        properties=model_properties("kmer_ridge"),
        window=model_window("kmer_ridge"),
    script:
        "../../scripts/train_sequence_model.py"


rule predict_kmer_ridge:
    input:
        unpack(sequence_model_inputs),
        weights="results/models/{tissue}/kmer_ridge/model.safetensors",
    output:
        "results/predictions/{tissue}/kmer_ridge/{chrom}.parquet",
    log:
        "logs/{tissue}/predict_kmer_ridge/{chrom}.log",
    benchmark:
        "results/runtime/{tissue}/predict_kmer_ridge/{chrom}.tsv"
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        model="kmer_ridge",
        window=model_window("kmer_ridge"),
        protocols=lambda wildcards: tissue_protocols(wildcards.tissue),
    script:
        "../../scripts/predict_sequence_model.py"
