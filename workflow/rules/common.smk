import json
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
    vcf = VCF.format(chrom=wildcards.chrom)
    return {"vcf": vcf, "tbi": f"{vcf}.tbi"}


def all_vcfs():
    return expand(VCF, chrom=CHROMOSOMES)


def reference_files():
    return {"fasta": REFERENCE, "fai": f"{REFERENCE}.fai", "gzi": f"{REFERENCE}.gzi"}


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
    targets = [
        "results/genes/genes.tsv",
        "results/individuals.tsv",
        *expand("results/haplotypes/{chrom}.counts.tsv", chrom=CHROMOSOMES),
    ]
    if prediction_names():
        targets += [
            "results/benchmark/summary.tsv",
            "results/report/overview.html",
            "results/report/training_curves.png",
            "results/report/provenance.html",
        ]
    if "elastic_net" in prediction_names():
        targets += ["results/models/elastic_net/weights.tsv", "results/models/elastic_net/genes.tsv"]
    return targets + dexter_outputs() + gta_targets()


# Download stage (real runs): fetch settings and the URL/checksum of each VCF.
DOWNLOAD_SETTINGS = {"retries": 5, "timeout": 120}


def download_source(name, key, default=None):
    """sources.<name>.<key> of the config."""
    return cfg("sources", name, key, default=default)


def vcf_url(wildcards):
    """The chromosome's entry in sources.vcf.chrom_urls, else the sources.vcf.url template."""
    template = download_source("vcf", "url")
    override = download_source("vcf", "chrom_urls", default={}).get(wildcards.chrom)
    return override or template.format(chrom=wildcards.chrom)


def vcf_md5(wildcards):
    """The chromosome's MD5 from sources.vcf.md5, if the config gives one."""
    return download_source("vcf", "md5", default={}).get(wildcards.chrom)


def vcf_manifest_input():
    """The fetched checksum manifest, when sources.vcf.manifest names one."""
    return "resources/vcf/manifest.txt" if download_source("vcf", "manifest") else []


# --- Models and evaluation (classical models, evaluate stage) ---

# Models whose predictions are written per chromosome and gathered into results/predictions/{name}.parquet.
PER_CHROMOSOME_MODELS = ["gc_cpg", "kmer_ridge", "elastic_net", "dexter"]


def prediction_names():
    """Names of the prediction files: each enabled model, plus <model>_<variant> for its configured variants."""
    names = []
    for model, props in (cfg("models", default={}) or {}).items():
        if not (props or {}).get("enabled", False):
            continue
        names.append(model)
        for variant in props.get("variants", []) or []:
            label = variant.get("name") if isinstance(variant, dict) else variant
            names.append(f"{model}_{label}")
    return names


def model_properties(model):
    """A model's config section without the `enabled` switch and `variants` list (what the library receives)."""
    props = dict(cfg("models", model, default={}) or {})
    props.pop("enabled", None)
    props.pop("variants", None)
    return props


def all_haplotype_sequences():
    return expand("results/haplotypes/{chrom}.sequences.parquet", chrom=CHROMOSOMES)


def sequence_model_inputs(wildcards):
    """What a sequence model needs to predict one chromosome: its haplotype store, genes, expression, individuals."""
    return {
        "sequences": f"results/haplotypes/{wildcards.chrom}.sequences.parquet",
        "map": f"results/haplotypes/{wildcards.chrom}.map.parquet",
        "genes": "results/genes/genes.tsv",
        "expression": "results/expression/expression.parquet",
        "individuals": "results/individuals.tsv",
    }


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


# GTA (workflow/rules/models/gta.smk)
GTA_NAME = "gta(_no_prompt|_shuffled_prompt|_random_lm|_prompt_only)?"


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


def gta_settings():
    """models.gta as the library reads it; `encoder: dnabert2` without a path uses the workflow's DNABERT-2 model
    (models.dnabert2.model: the pretrain_dna_lm output, a local directory or the downloaded checkpoint)."""
    settings = dict(cfg("models", "gta", default={}))
    if settings.get("encoder") == "dnabert2" and not settings.get("encoder_path"):
        settings["encoder_path"] = dnabert2_model_dir()
    return settings


def gta_encoder_files():
    if cfg("models", "gta", "encoder", default="cnn") == "cnn":
        return []
    if cfg("models", "gta", "encoder_path", default=None):
        return [cfg("models", "gta", "encoder_path")]
    return dnabert2_model_files()


def gta_inputs(wildcards):
    return {
        "genes": "results/genes/genes.tsv",
        "expression": "results/expression/expression.parquet",
        "individuals": "results/individuals.tsv",
        "sequences": expand("results/haplotypes/{chrom}.sequences.parquet", chrom=CHROMOSOMES),
        "maps": expand("results/haplotypes/{chrom}.map.parquet", chrom=CHROMOSOMES),
        "llm": gta_llm_dir(),
        "encoder": gta_encoder_files(),
        "annotation": cfg("models", "gta", "annotation", default=None) or [],
    }


def allow_cpu():
    """training.allow_cpu: a rule declaring resources gpu=1 may run on a CPU when no CUDA device is visible."""
    return cfg("training", "allow_cpu", default=False)


# The one-hot CNN (workflow/rules/models/cnn.smk)
def cnn_protocols():
    return cfg("models", "cnn", "protocols", default=["cross_gene", "cross_individual"])


def cnn_inputs(wildcards):
    return {
        "genes": "results/genes/genes.tsv",
        "expression": "results/expression/expression.parquet",
        "individuals": "results/individuals.tsv",
        "sequences": all_haplotype_sequences(),
        "maps": expand("results/haplotypes/{chrom}.map.parquet", chrom=CHROMOSOMES),
    }


def gta_weights(wildcards):
    name = wildcards.get("name", "gta")
    return expand(
        "results/models/gta/{name}/{protocol}/model.safetensors",
        name=name,
        protocol=gta_protocols(name),
    )


def gta_model_dir(weights):
    """The model's directory from the path of one of its protocol's weights: results/models/gta/<name> (GTA),
    results/models/cnn (the CNN)."""
    return os.path.dirname(os.path.dirname(weights))


# --- Report ---
OVERVIEW = "results/report/overview.json"

# The landing page (workflow.rst) is rendered with the config only: hand it the run's counts once they exist.
if os.path.exists(OVERVIEW):
    with open(OVERVIEW) as fh:
        config["run_overview"] = json.load(fh)


def report_predictions():
    return expand("results/predictions/{name}.parquet", name=prediction_names())


def report_per_gene():
    return expand("results/metrics/{name}.per_gene.tsv", name=prediction_names())


def haplotype_counts():
    return expand("results/haplotypes/{chrom}.counts.tsv", chrom=CHROMOSOMES)


def truth_genes():
    return "resources/truth/genes.tsv" if DEMO else []


def training_logs():
    """Training logs (hapexpr.training, one set of columns) of the neural models, by label: DNABERT-2, GTA and the
    CNN, per protocol."""
    logs = {}
    if cfg("models", "dnabert2", "enabled", default=False):
        for protocol in cfg("models", "dnabert2", "protocols", default=["cross_gene", "cross_individual"]):
            logs[f"dnabert2 ({protocol})"] = f"results/models/dnabert2/finetuned/{protocol}/training_log.tsv"
    if cfg("models", "gta", "enabled", default=False):
        for protocol in gta_protocols():
            logs[f"gta ({protocol})"] = f"results/models/gta/gta/{protocol}/training_log.tsv"
    if cfg("models", "cnn", "enabled", default=False):
        for protocol in cnn_protocols():
            logs[f"cnn ({protocol})"] = f"results/models/cnn/{protocol}/training_log.tsv"
    return logs
