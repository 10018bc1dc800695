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
    params:
        expression_format=expression_format(),
        populations_format=populations_format(),
        test_fraction=cfg("splits", "individuals", "test_fraction", default=0.2),
        valid_fraction=cfg("splits", "individuals", "valid_fraction", default=0.1),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../envs/genomics.yaml"
    script:
        "../scripts/individuals.py"


rule genes:
    input:
        annotation=ANNOTATION,
        fai=REFERENCE + ".fai",
        expression=EXPRESSION,
        individuals="results/individuals.tsv",
        gtex=gtex_input(),
    output:
        genes="results/genes/genes.tsv",
        expression="results/expression/expression.parquet",
    log:
        "logs/genes.log",
    benchmark:
        "results/runtime/genes.tsv"
    params:
        chromosomes=CHROMOSOMES,
        expression_format=expression_format(),
        biotypes=cfg("genes", "biotypes", default=["protein_coding", "lncRNA"]),
        transform=cfg("genes", "expression_transform", default="log1p"),
        min_mean=cfg("genes", "min_mean_expression"),
        target=cfg("evaluation", "cross_gene_target", default="mean"),
        gtex_tissue=cfg("evaluation", "gtex_tissue"),
        splits=cfg("splits", "genes", default={}),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        "../envs/genomics.yaml"
    script:
        "../scripts/genes.py"
