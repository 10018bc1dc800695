rule haplotypes:
    input:
        unpack(get_vcf),
        fasta=REFERENCE,
        fai=f"{REFERENCE}.fai",
        gzi=f"{REFERENCE}.gzi",
        genes="results/genes/genes.tsv",
        individuals="results/individuals.tsv",
    output:
        sequences="results/haplotypes/{chrom}.sequences.parquet",
        map="results/haplotypes/{chrom}.map.parquet",
        counts="results/haplotypes/{chrom}.counts.tsv",
    log:
        "logs/haplotypes/{chrom}.log",
    benchmark:
        "results/runtime/haplotypes/{chrom}.tsv"
    conda:
        "../envs/genomics.yaml"
    threads: 2
    resources:
        mem_mb=attempt_scaled(cfg("haplotypes", "mem_mb", default=8000)),
        runtime=attempt_scaled(240),
    params:
        window=haplotype_window(),
        missing=cfg("haplotypes", "missing", default="reference"),
        unphased=cfg("haplotypes", "unphased", default="error"),
        individuals=cfg("haplotypes", "individuals", default="expression"),
        chunk_genes=cfg("haplotypes", "chunk_genes", default=64),
        seed=config["seed"],
    script:
        "../scripts/haplotypes.py"


rule export_fasta:
    input:
        unpack(chromosome_store),
    output:
        "results/haplotypes/fasta/{chrom}/{gene}.fa",
    log:
        "logs/export_fasta/{chrom}/{gene}.log",
    benchmark:
        "results/runtime/export_fasta/{chrom}/{gene}.tsv"
    wildcard_constraints:
        gene="[A-Za-z0-9][A-Za-z0-9._-]*",
    conda:
        "../envs/genomics.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(20),
    params:
        individuals=cfg("haplotypes", "export_individuals", default=[]),
    script:
        "../scripts/export_fasta.py"
