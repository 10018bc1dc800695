rule individuals:
    input:
        vcfs=all_vcfs(),
        expression=EXPRESSION,
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
        expression_format=expression_format(),
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
        expression=EXPRESSION,
        individuals="results/individuals.tsv",
        gtex=gtex_input(),
        levels=levels_input(),
    output:
        genes="results/genes/genes.tsv",
        expression="results/expression/expression.parquet",
        dropped="results/genes/dropped.tsv",
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
        expression_format=expression_format(),
        biotypes=cfg("genes", "biotypes", default=["protein_coding", "lncRNA"]),
        transform=cfg("genes", "expression_transform", default="log1p"),
        min_mean=cfg("genes", "min_mean_expression"),
        target=cfg("evaluation", "cross_gene_target", default="mean"),
        gtex_tissue=cfg("evaluation", "gtex_tissue"),
        levels_format=cfg("sources", "expression_levels", "format", default="geuvadis"),
        window=config["window"]["length"],
        max_n_fraction=cfg("genes", "max_n_fraction", default=0.5),
        splits=cfg("splits", "genes", default={}),
        seed=config["seed"],
    script:
        "../scripts/genes.py"
