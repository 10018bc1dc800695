# The download stage of a real run (the demo's `simulate` rule writes the same files instead).
# Local rules: compute nodes often have no internet. Each job resumes its own partial download
# (resources/**/.<name>.download.part), so Snakemake's `retries:` and a rerun pick up where it stopped.
# A local source (a path or file:// URL) is an input: changed after a run, it is copied again, and so is a source
# fixed after a check of its copy failed (REF mismatch, unphased genotypes, a bad expression value).

if not DEMO:

    rule download_reference:
        input:
            source=local_source("reference"),
        output:
            fasta=REFERENCE,
            fai=f"{REFERENCE}.fai",
            gzi=f"{REFERENCE}.gzi",
        log:
            "logs/download_reference.log",
        benchmark:
            "results/runtime/download_reference.tsv"
        retries: 2
        localrule: True
        conda:
            "../envs/genomics.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=240,
        params:
            **DOWNLOAD_SETTINGS,
            url=download_source("reference", "url"),
            kind="reference",
            build=config["build"],
            md5=download_source("reference", "md5"),
            sha256=download_source("reference", "sha256"),
        script:
            "../scripts/download.py"

    rule download_annotation:
        input:
            source=local_source("annotation"),
        output:
            ANNOTATION,
        log:
            "logs/download_annotation.log",
        benchmark:
            "results/runtime/download_annotation.tsv"
        retries: 2
        localrule: True
        conda:
            "../envs/genomics.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=60,
        params:
            **DOWNLOAD_SETTINGS,
            url=download_source("annotation", "url"),
            kind="gzip",
            md5=download_source("annotation", "md5"),
            sha256=download_source("annotation", "sha256"),
        script:
            "../scripts/download.py"

    rule download_vcf_manifest:
        output:
            "resources/vcf/manifest.txt",
        log:
            "logs/download_vcf_manifest.log",
        benchmark:
            "results/runtime/download_vcf_manifest.tsv"
        retries: 2
        localrule: True
        conda:
            "../envs/genomics.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=10,
        params:
            **DOWNLOAD_SETTINGS,
            url=download_source("vcf", "manifest"),
            kind="plain",
            md5=None,
            sha256=None,
        script:
            "../scripts/download.py"

    rule download_vcf:
        input:
            manifest=vcf_manifest_input(),
            source=local_vcf_source,
        output:
            vcf=VCF,
            tbi=f"{VCF}.tbi",
        log:
            "logs/download_vcf/{chrom}.log",
        benchmark:
            "results/runtime/download_vcf/{chrom}.tsv"
        retries: 2
        localrule: True
        conda:
            "../envs/genomics.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=600,
        params:
            **DOWNLOAD_SETTINGS,
            url=vcf_url,
            kind="vcf",
            md5=vcf_md5,
            sha256=None,
        script:
            "../scripts/download.py"

    rule download_expression:
        input:
            source=local_source("expression"),
        output:
            EXPRESSION,
        log:
            "logs/download_expression.log",
        benchmark:
            "results/runtime/download_expression.tsv"
        retries: 2
        localrule: True
        conda:
            "../envs/genomics.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=60,
        params:
            **DOWNLOAD_SETTINGS,
            url=download_source("expression", "url"),
            kind="gzip",
            md5=download_source("expression", "md5"),
            sha256=download_source("expression", "sha256"),
        script:
            "../scripts/download.py"

    if cfg("sources", "populations"):

        rule download_populations:
            input:
                source=local_source("populations"),
            output:
                POPULATIONS,
            log:
                "logs/download_populations.log",
            benchmark:
                "results/runtime/download_populations.tsv"
            retries: 2
            localrule: True
            conda:
                "../envs/genomics.yaml"
            threads: 1
            resources:
                mem_mb=500,
                runtime=10,
            params:
                **DOWNLOAD_SETTINGS,
                url=download_source("populations", "url"),
                kind="plain",
                md5=download_source("populations", "md5"),
                sha256=download_source("populations", "sha256"),
            script:
                "../scripts/download.py"

    if cfg("sources", "phenotypes"):

        rule download_phenotypes:
            input:
                source=local_source("phenotypes"),
            output:
                PHENOTYPES,
            log:
                "logs/download_phenotypes.log",
            benchmark:
                "results/runtime/download_phenotypes.tsv"
            retries: 2
            localrule: True
            conda:
                "../envs/genomics.yaml"
            threads: 1
            resources:
                mem_mb=500,
                runtime=10,
            params:
                **DOWNLOAD_SETTINGS,
                url=download_source("phenotypes", "url"),
                kind="plain",
                md5=download_source("phenotypes", "md5"),
                sha256=download_source("phenotypes", "sha256"),
            script:
                "../scripts/download.py"

    if cfg("sources", "expression_levels"):

        rule download_expression_levels:
            output:
                LEVELS,
            log:
                "logs/download_expression_levels.log",
            benchmark:
                "results/runtime/download_expression_levels.tsv"
            retries: 2
            localrule: True
            conda:
                "../envs/genomics.yaml"
            threads: 1
            resources:
                mem_mb=1000,
                runtime=60,
            params:
                **DOWNLOAD_SETTINGS,
                url=download_source("expression_levels", "url"),
                kind="gzip",
                md5=download_source("expression_levels", "md5"),
                sha256=download_source("expression_levels", "sha256"),
            script:
                "../scripts/download.py"

    if cfg("sources", "gtex"):

        rule download_gtex:
            input:
                source=local_source("gtex"),
            output:
                GTEX,
            log:
                "logs/download_gtex.log",
            benchmark:
                "results/runtime/download_gtex.tsv"
            retries: 2
            localrule: True
            conda:
                "../envs/genomics.yaml"
            threads: 1
            resources:
                mem_mb=1000,
                runtime=30,
            params:
                **DOWNLOAD_SETTINGS,
                url=download_source("gtex", "url"),
                kind="gzip",
                md5=download_source("gtex", "md5"),
                sha256=download_source("gtex", "sha256"),
            script:
                "../scripts/download.py"


# The personal expression matrix of each tissue that names its own (tissues.<name>.expression; also in the demo,
# where a tissue may add a local matrix to the simulated one).
rule download_tissue_expression:
    input:
        source=lambda wc: tissue_source_files(wc.tissue),
    output:
        "resources/expression/tissues/{tissue}.txt.gz",
    log:
        "logs/download_tissue_expression/{tissue}.log",
    benchmark:
        "results/runtime/download_tissue_expression/{tissue}.tsv"
    retries: 2
    localrule: True
    conda:
        "../envs/genomics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        **DOWNLOAD_SETTINGS,
        url=lambda wc: TISSUE_SETTINGS[wc.tissue]["expression"]["url"],
        kind="gzip",
        md5=lambda wc: TISSUE_SETTINGS[wc.tissue]["expression"].get("md5"),
        sha256=lambda wc: TISSUE_SETTINGS[wc.tissue]["expression"].get("sha256"),
    script:
        "../scripts/download.py"
