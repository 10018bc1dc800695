# From predicted expression to traits (hapexpr.traits): the checked phenotype table, polygenic scores, gene-level
# association of every model's personal predictions with each trait, and individual risk. In the DAG only when
# `traits.traits` names traits (config/README.md, "Traits").


rule phenotypes:
    input:
        phenotypes=PHENOTYPES,
        individuals="results/individuals.tsv",
    output:
        "results/traits/phenotypes.tsv",
    log:
        "logs/traits/phenotypes.log",
    benchmark:
        "results/runtime/traits/phenotypes.tsv"
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(2000),
        runtime=attempt_scaled(10),
    params:
        traits=trait_types(),
        covariates=trait_setting("covariates", []),
    script:
        "../scripts/phenotypes.py"


rule polygenic_score:
    input:
        vcfs=all_vcfs(),
        tbis=expand(f"{VCF}.tbi", chrom=CHROMOSOMES),
        phenotypes="results/traits/phenotypes.tsv",
    output:
        scores="results/traits/pgs.tsv",
        weights="results/models/pgs/weights.tsv",
    log:
        "logs/traits/polygenic_score.log",
    benchmark:
        "results/runtime/traits/polygenic_score.tsv"
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(8000),
        runtime=attempt_scaled(60),
    params:
        chromosomes=CHROMOSOMES,
        traits=trait_types(),
        maf=trait_setting("maf", 0.01),
        l1_ratio=trait_setting("l1_ratio", 0.5),
        folds=trait_setting("folds", 5),
        seed=config["seed"],
    script:
        "../scripts/polygenic_score.py"


rule associate_traits:
    input:
        predictions=trait_predictions(),
        phenotypes="results/traits/phenotypes.tsv",
        genes="results/genes/genes.tsv",
        truth=trait_truth(),
    output:
        association="results/traits/association.tsv",
        discoveries="results/traits/discoveries.tsv",
    log:
        "logs/traits/associate_traits.log",
    benchmark:
        "results/runtime/traits/associate_traits.tsv"
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(30),
    params:
        names=tissue_names(personal_tissues()),
        traits=trait_types(),
        covariates=trait_setting("covariates", []),
        fdr=trait_setting("fdr", 0.05),
    script:
        "../scripts/associate_traits.py"


rule risk:
    input:
        predictions=trait_predictions(),
        phenotypes="results/traits/phenotypes.tsv",
        pgs="results/traits/pgs.tsv",
    output:
        "results/traits/risk.tsv",
    log:
        "logs/traits/risk.log",
    benchmark:
        "results/runtime/traits/risk.tsv"
    conda:
        "../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(30),
    params:
        names=tissue_names(personal_tissues()),
        traits=trait_types(),
        covariates=trait_setting("covariates", []),
        l1_ratio=trait_setting("l1_ratio", 0.5),
        folds=trait_setting("folds", 5),
        bootstrap=cfg("evaluation", "bootstrap", default=1000),
        seed=config["seed"],
    script:
        "../scripts/risk.py"
