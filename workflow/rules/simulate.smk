# The demo's `simulate` rule writes the same files as the download rules, plus the planted truth.
TRUTH = "resources/truth/{table}.tsv"
TRUTH_TABLES = [
    "motifs",
    "motif_sites",
    "genes",
    "causal_variants",
    "variants",
    "params",
    "traits",
    "trait_genes",
    "trait_variants",
]


if DEMO:

    rule simulate:
        output:
            reference=REFERENCE,
            fai=f"{REFERENCE}.fai",
            gzi=f"{REFERENCE}.gzi",
            annotation=ANNOTATION,
            vcfs=all_vcfs(),
            tbis=expand(f"{VCF}.tbi", chrom=CHROMOSOMES),
            expression=EXPRESSION,
            populations=POPULATIONS,
            phenotypes=PHENOTYPES,
            truth=expand(TRUTH, table=TRUTH_TABLES),
        log:
            "logs/simulate.log",
        benchmark:
            "results/runtime/simulate.tsv"
        conda:
            "../envs/genomics.yaml"
        threads: 1
        resources:
            mem_mb=attempt_scaled(4000),
            runtime=attempt_scaled(20),
        params:
            simulate=config["simulate"],
            chromosomes=CHROMOSOMES,
            window=config["window"]["length"],
            seed=config["seed"],
        script:
            "../scripts/simulate.py"
