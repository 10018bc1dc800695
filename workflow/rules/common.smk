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
        *dexter_outputs(),
    ]


# --- Models: DExTER ---
def dexter_outputs():
    """DExTER's predictions and domain table, when models.dexter.enabled."""
    if not cfg("models", "dexter", "enabled", default=False):
        return []
    return ["results/predictions/dexter.parquet", "results/models/dexter/domains.tsv"]


def dexter_params():
    """The models.dexter config section as DExTER constructor arguments."""
    props = cfg("models", "dexter", default={}) or {}
    names = {
        "bins": "n_bins",
        "correlation_increase": "correlation_increase",
        "correlation_increase_ratio": "correlation_increase_ratio",
        "correlation_min": "correlation_min",
        "max_k": "max_k",
        "count_last_start": "count_last_start",
        "lasso_folds": "cv",
        "lasso_solver": "lasso_solver",
        "lasso_max_iter": "max_iter",
    }
    return {arg: props[key] for key, arg in names.items() if key in props}
