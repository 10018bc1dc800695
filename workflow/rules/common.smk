import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


if "simulate" in config and "sources" in config:
    raise WorkflowError(
        "the config has both 'simulate' (demo) and 'sources' (real run): a --configfile was merged into "
        "config/config.yaml. Add --replace-workflow-config, or run with --profile profiles/default."
    )
validate(config, schema="../schemas/config.schema.yaml")

CHROMOSOMES = config["chromosomes"]
DEMO = "simulate" in config

# File contracts of the download/simulate stage (DESIGN.md): every later stage reads these paths.
REFERENCE = "resources/reference/genome.fa.gz"
ANNOTATION = "resources/annotation/genes.gtf.gz"
VCF = "resources/vcf/{chrom}.vcf.gz"
EXPRESSION = "resources/expression/expression.txt.gz"
POPULATIONS = "resources/samples/populations.tsv"
GTEX = "resources/expression/gtex_median_tpm.gct.gz"


wildcard_constraints:
    chrom="|".join(re.escape(c) for c in CHROMOSOMES),


def cfg(*keys, default=None):
    """A nested config value, or `default` where a key is absent."""
    node = config
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def get_vcf(wildcards):
    return {"vcf": VCF.format(chrom=wildcards.chrom), "tbi": VCF.format(chrom=wildcards.chrom) + ".tbi"}


def all_vcfs():
    return expand(VCF, chrom=CHROMOSOMES)


def reference_files():
    return {"fasta": REFERENCE, "fai": REFERENCE + ".fai", "gzi": REFERENCE + ".gzi"}


def expression_format():
    return "geuvadis" if DEMO else cfg("sources", "expression", "format", default="geuvadis")


def populations_input():
    """Population labels: the demo simulates them; a real run has them only if configured."""
    return POPULATIONS if DEMO or cfg("sources", "populations") else []


def populations_format():
    return "two_column" if DEMO else cfg("sources", "populations", "format", default="two_column")


def gtex_input():
    return GTEX if cfg("evaluation", "cross_gene_target") == "gtex" else []


def final_outputs():
    """Every target of the run, from config: turning a model off removes its jobs from the DAG."""
    return [
        "results/genes/genes.tsv",
        "results/individuals.tsv",
    ] + gta_targets()


# GTA (workflow/rules/models/gta.smk)
GTA_NAME = "gta(_no_prompt|_shuffled_prompt|_random_lm)?"


def gta_names():
    """The prediction names of GTA: `gta` plus `gta_<variant>` for each configured ablation."""
    if not cfg("models", "gta", "enabled", default=False):
        return []
    return ["gta"] + [f"gta_{v}" for v in cfg("models", "gta", "variants", default=[])]


def gta_targets():
    if not gta_names():
        return []
    return expand("results/predictions/{name}.parquet", name=gta_names()) + [
        "results/models/gta/attribution_by_distance.tsv",
        "results/models/gta/attribution_by_distance.png",
    ]


def gta_protocols(name="gta"):
    """Protocols of `gta`; the ablations use `variant_protocols` (default: the same)."""
    protocols = cfg("models", "gta", "protocols", default=["cross_gene", "cross_individual"])
    if name == "gta":
        return protocols
    return cfg("models", "gta", "variant_protocols", default=None) or protocols


def gta_llm_dir():
    """A local Hugging Face directory in config is used as is; anything else is materialised by gta_llm."""
    llm = str(cfg("models", "gta", "llm", default="smollm2"))
    if os.path.isfile(os.path.join(llm, "config.json")):
        return llm
    return "resources/models/gta_llm"


def gta_inputs(wildcards):
    return {
        "genes": "results/genes/genes.tsv",
        "expression": "results/expression/expression.parquet",
        "individuals": "results/individuals.tsv",
        "sequences": expand(
            "results/haplotypes/{chrom}.sequences.parquet", chrom=CHROMOSOMES
        ),
        "maps": expand("results/haplotypes/{chrom}.map.parquet", chrom=CHROMOSOMES),
        "llm": gta_llm_dir(),
        "annotation": cfg("models", "gta", "annotation", default=None) or [],
    }


def gta_weights(wildcards):
    name = wildcards.get("name", "gta")
    return expand(
        "results/models/gta/{name}/{protocol}/model.safetensors",
        name=name,
        protocol=gta_protocols(name),
    )


def gta_model_dir(weights):
    """results/models/gta/<name> from the path of one of its protocol's weights."""
    return os.path.dirname(os.path.dirname(weights))
