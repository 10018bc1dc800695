# elastic_net: PrediXcan-style per-gene elastic net on cis-variant dosages, cross-individual only
# (hapexpr.elastic_net). One job per chromosome reads its VCF once and fits every gene on it.
# elastic_net_window: the same fits on the variants inside the sequence models' window only (a control).


rule elastic_net:
    input:
        unpack(get_vcf),
        genes="results/genes/{tissue}/genes.tsv",
        expression="results/expression/{tissue}.parquet",
        individuals="results/individuals.tsv",
    output:
        predictions="results/predictions/{tissue}/{enet}/{chrom}.parquet",
        weights="results/models/{tissue}/{enet}/{chrom}.weights.tsv",
        genes="results/models/{tissue}/{enet}/{chrom}.genes.tsv",
    log:
        "logs/{tissue}/{enet}/{chrom}.log",
    benchmark:
        "results/runtime/{tissue}/{enet}/{chrom}.tsv"
    wildcard_constraints:
        enet="|".join(ELASTIC_NETS),
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(720),
    params:
        properties=elastic_net_settings,
        seed=config["seed"],
    script:
        "../../scripts/elastic_net.py"


rule gather_elastic_net_weights:
    input:
        weights=expand("results/models/{{tissue}}/{{enet}}/{chrom}.weights.tsv", chrom=CHROMOSOMES),
        genes=expand("results/models/{{tissue}}/{{enet}}/{chrom}.genes.tsv", chrom=CHROMOSOMES),
    output:
        weights="results/models/{tissue}/{enet}/weights.tsv",
        genes="results/models/{tissue}/{enet}/genes.tsv",
    log:
        "logs/{tissue}/gather_elastic_net_weights/{enet}.log",
    benchmark:
        "results/runtime/{tissue}/gather_elastic_net_weights/{enet}.tsv"
    wildcard_constraints:
        enet="|".join(ELASTIC_NETS),
    conda:
        "../../envs/models_classical.yaml"
    threads: 1
    resources:
        mem_mb=attempt_scaled(4000),
        runtime=attempt_scaled(20),
    script:
        "../../scripts/gather_tables.py"
