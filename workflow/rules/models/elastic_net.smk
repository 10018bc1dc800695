# elastic_net: PrediXcan-style per-gene elastic net on cis-variant dosages, cross-individual only
# (hapexpr.elastic_net). One job per chromosome reads its VCF once and fits every gene on it.


rule elastic_net:
    input:
        unpack(get_vcf),
        genes="results/genes/genes.tsv",
        expression="results/expression/expression.parquet",
        individuals="results/individuals.tsv",
    output:
        predictions="results/predictions/elastic_net/{chrom}.parquet",
        weights="results/models/elastic_net/{chrom}.weights.tsv",
        genes="results/models/elastic_net/{chrom}.genes.tsv",
    log:
        "logs/elastic_net/{chrom}.log",
    benchmark:
        "results/runtime/elastic_net/{chrom}.tsv"
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(720),
    params:
        properties=model_properties("elastic_net"),
        seed=config["seed"],
    script:
        "../../scripts/elastic_net.py"


rule gather_elastic_net_weights:
    input:
        weights=expand("results/models/elastic_net/{chrom}.weights.tsv", chrom=CHROMOSOMES),
        genes=expand("results/models/elastic_net/{chrom}.genes.tsv", chrom=CHROMOSOMES),
    output:
        weights="results/models/elastic_net/weights.tsv",
        genes="results/models/elastic_net/genes.tsv",
    log:
        "logs/gather_elastic_net_weights.log",
    benchmark:
        "results/runtime/gather_elastic_net_weights.tsv"
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(20),
    script:
        "../../scripts/gather_tables.py"
