# gc_cpg: least squares on the window's GC fraction and CpG count, trained cross-gene on reference windows,
# applied to every unique haplotype window (hapexpr.models).


rule train_gc_cpg:
    input:
        genes="results/genes/{tissue}/genes.tsv",
        sequences=haplotype_stores(),
    output:
        weights="results/models/{tissue}/gc_cpg/model.safetensors",
        config="results/models/{tissue}/gc_cpg/config.json",
    log:
        "logs/{tissue}/train_gc_cpg.log",
    benchmark:
        "results/runtime/{tissue}/train_gc_cpg.tsv"
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        model="gc_cpg",
        properties=model_properties("gc_cpg"),
        window=model_window("gc_cpg"),
    script:
        "../../scripts/train_sequence_model.py"


rule predict_gc_cpg:
    input:
        unpack(sequence_model_inputs),
        weights="results/models/{tissue}/gc_cpg/model.safetensors",
    output:
        "results/predictions/{tissue}/gc_cpg/{chrom}.parquet",
    log:
        "logs/{tissue}/predict_gc_cpg/{chrom}.log",
    benchmark:
        "results/runtime/{tissue}/predict_gc_cpg/{chrom}.tsv"
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        model="gc_cpg",
        window=model_window("gc_cpg"),
        protocols=lambda wildcards: tissue_protocols(wildcards.tissue),
    script:
        "../../scripts/predict_sequence_model.py"
