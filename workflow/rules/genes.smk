rule individuals:
    input:
        vcfs=all_vcfs(),
        expression=personal_matrices(),
        populations=populations_input(),
    output:
        "results/individuals.tsv",
    log:
        "logs/individuals.log",
    benchmark:
        "results/runtime/individuals.tsv"
    conda:
        "../envs/genomics.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(20),
    params:
        expression_formats=[tissue_expression_format(t) for t in personal_tissues()],
        populations_format=populations_format(),
        test_fraction=cfg("splits", "individuals", "test_fraction", default=0.2),
        valid_fraction=cfg("splits", "individuals", "valid_fraction", default=0.1),
        test_populations=cfg("splits", "individuals", "test_populations", default=[]),
        seed=config["seed"],
    script:
        "../scripts/individuals.py"


rule genes:
    input:
        annotation=ANNOTATION,
        reference=REFERENCE,
        fai=f"{REFERENCE}.fai",
        gzi=f"{REFERENCE}.gzi",
        expression=personal_matrices(),
        individuals="results/individuals.tsv",
        gtex=gtex_input(),
        levels=levels_input(),
    output:
        genes="results/genes/genes.tsv",
        tissue_genes=expand("results/genes/{tissue}/genes.tsv", tissue=TISSUES),
        expression=expand("results/expression/{tissue}.parquet", tissue=TISSUES),
        dropped=expand("results/genes/{tissue}/dropped.tsv", tissue=TISSUES),
    log:
        "logs/genes.log",
    benchmark:
        "results/runtime/genes.tsv"
    conda:
        "../envs/genomics.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(30),
    params:
        chromosomes=CHROMOSOMES,
        tissues=genes_tissue_inputs(),
        biotypes=cfg("genes", "biotypes", default=["protein_coding", "lncRNA"]),
        transform=cfg("genes", "expression_transform", default="log1p"),
        min_mean=cfg("genes", "min_mean_expression"),
        target=cfg("evaluation", "cross_gene_target", default="mean"),
        levels_format=cfg("sources", "expression_levels", "format", default="geuvadis"),
        window=config["window"]["length"],
        max_n_fraction=cfg("genes", "max_n_fraction", default=0.5),
        splits=cfg("splits", "genes", default={}),
        seed=config["seed"],
    script:
        "../scripts/genes.py"
