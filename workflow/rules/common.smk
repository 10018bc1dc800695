import json
import os
import re
import urllib.parse
import urllib.request

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate

if "simulate" in config and "sources" in config:
    raise WorkflowError(
        "the config has both 'simulate' (demo) and 'sources' (real run): two whole configs were given (e.g. "
        "--configfile config/config.yaml config/demo.yaml). Give one of them; put other changes in a --configfile "
        "without 'simulate' or 'sources', or in --config key=value."
    )
# The library's files (workflow/scripts/hapexpr/), listed because a remote source cannot be listed;
# tests/workflow/test_module.py fails when this list and the directory differ.
LIBRARY_FILES = [
    "__init__.py",
    "dexter.py",
    "dnabert2.py",
    "cnn.py",
    "dnabert2_train.py",
    "download.py",
    "elastic_net.py",
    "equivalence.py",
    "evaluate.py",
    "genes.py",
    "gta.py",
    "haplotypes.py",
    "ids.py",
    "io.py",
    "kmers.py",
    "models.py",
    "protocols.py",
    "reference.py",
    "report.py",
    "simulate.py",
    "training.py",
    "traits.py",
    "variants.py",
]


def cache_library():
    """Used as a module from a remote source (`github(...)`, `gitlab(...)`), Snakemake copies only each rule's own
    script into its source cache and puts that folder on the script's sys.path: copy the library there beside it,
    so that `import hapexpr` works in every job (each job parses the workflow again, so also on cluster nodes)."""
    if isinstance(workflow.current_basedir, LocalSourceFile):
        return  # a local checkout: Snakemake puts workflow/scripts itself on the path
    for name in LIBRARY_FILES:
        workflow.source_path(f"../scripts/hapexpr/{name}")


cache_library()


def check_config():
    """The schema, then the settings it lets through but that cannot mean what the user wants: each an error
    naming the key and the fix (called once, at workflow start, before any job)."""
    numbers = [c for c in config.get("chromosomes") or [] if not isinstance(c, str)]
    for key in ("test_chromosomes", "valid_chromosomes"):
        numbers += [c for c in cfg("splits", "genes", key, default=[]) or [] if not isinstance(c, str)]
    if numbers:
        raise WorkflowError(
            f"chromosomes: {numbers} are numbers, but chromosome names are text: quote them in the config, "
            f"e.g. chromosomes: [{', '.join(repr(str(c)) for c in numbers[:3])}] (also in splits.genes)."
        )
    validate(config, schema="../schemas/config.schema.yaml")
    chromosomes = config["chromosomes"]
    problems = []
    split_genes = cfg("splits", "genes", default={}) or {}
    for key in ("test_chromosomes", "valid_chromosomes"):
        absent = [c for c in split_genes.get(key, []) if c not in chromosomes]
        if absent:
            problems.append(
                f"splits.genes.{key}: {absent} not in 'chromosomes' {chromosomes}, so they would hold no gene; "
                f"add them to 'chromosomes' or name chromosomes of the run."
            )
    if not split_genes.get("block_bp") and not set(split_genes.get("test_chromosomes", [])) & set(chromosomes):
        problems.append(
            "splits.genes.test_chromosomes names no chromosome of the run, so there would be no test gene; "
            "name one of 'chromosomes', or set splits.genes.block_bp to split a single chromosome into blocks."
        )
    test = cfg("splits", "individuals", "test_fraction", default=0)
    valid = cfg("splits", "individuals", "valid_fraction", default=0)
    if test + valid >= 1:
        problems.append(
            f"splits.individuals: test_fraction {test} + valid_fraction {valid} leave no training individual; "
            f"make their sum less than 1."
        )
    chrom_length = cfg("simulate", "chrom_length")
    if chrom_length and config["window"]["length"] > chrom_length:
        problems.append(
            f"window.length {config['window']['length']} is longer than every chromosome "
            f"(simulate.chrom_length {chrom_length}); shorten window.length."
        )
    if cfg("sources", "vcf", "url"):
        template = cfg("sources", "vcf", "url")
        overrides = cfg("sources", "vcf", "chrom_urls", default={}) or {}
        files = {}
        for chrom in chromosomes:
            files.setdefault(overrides.get(chrom) or template.format(chrom=chrom), []).append(chrom)
        for url, shared in files.items():
            if len(shared) > 1:
                key = "sources.vcf.chrom_urls" if url in overrides.values() else "sources.vcf.url"
                problems.append(
                    f"{key}: chromosomes {shared} would all read {url}; write {{chrom}} in sources.vcf.url "
                    f"where the chromosome goes, or give each chromosome its own file in sources.vcf.chrom_urls."
                )
    problems += tissue_problems()
    if cfg("traits", "traits"):
        if "simulate" not in config and not cfg("sources", "phenotypes"):
            problems.append(
                "traits.traits names traits but the run has no phenotype table: set sources.phenotypes.url (a TSV "
                "of individual, then one column per trait and covariate), or remove the traits section."
            )
        if "simulate" not in config and not cfg("sources", "vcf"):
            problems.append(
                "traits.traits needs personal predictions and genotypes, but the run has no sources.vcf (a "
                "cross-gene-only run); add genotypes or remove the traits section."
            )
    elif cfg("sources", "phenotypes"):
        logger.warning("sources.phenotypes is set but traits.traits names no trait: the phenotypes are not used")
    if problems:
        raise WorkflowError("the config cannot mean what it asks for:\n  " + "\n  ".join(problems))


def tissue_problems():
    """What `tissues` (or its absence) asks for that the run cannot do, each naming the key and the fix."""
    tissues = cfg("tissues")
    target = cfg("evaluation", "cross_gene_target", default="mean")
    demo = "simulate" in config
    if not tissues:
        if not demo and not cfg("sources", "expression"):
            return [
                "sources.expression is missing: give the personal expression matrix there, or several tissues "
                "under tissues: (config/README.md, 'Tissues')."
            ]
        return []
    problems = []
    if cfg("sources", "expression"):
        problems.append(
            "sources.expression is set but so is tissues: give that matrix as the expression of one "
            "of the tissues (tissues.<name>.expression), and remove sources.expression."
        )
    simulated = [t for t, p in tissues.items() if (p or {}).get("expression") == "simulated"]
    if simulated and not demo:
        problems.append(
            f"tissues.{simulated[0]}.expression is 'simulated', but this is no demo (no simulate: "
            f"section); give the URL or path of the tissue's matrix."
        )
    if len(simulated) > 1:
        problems.append(f"tissues {simulated} all use the simulated matrix; one tissue can.")
    personal = [t for t, p in tissues.items() if (p or {}).get("expression")]
    if not personal:
        problems.append(
            "no tissue under tissues: has a personal expression matrix (tissues.<name>.expression); "
            "the individuals and their splits come from those matrices, so give at least one."
        )
    for tissue, props in tissues.items():
        props = props or {}
        if target == "gtex" and not props.get("gtex_tissue"):
            problems.append(
                f"tissues.{tissue}.gtex_tissue is missing, but evaluation.cross_gene_target is gtex: "
                f"name the tissue's column of the GTEx median-TPM table."
            )
        if target in ("mean", "median") and not props.get("expression"):
            problems.append(
                f"tissues.{tissue} has no expression matrix, so evaluation.cross_gene_target "
                f"{target} (over its individuals) has nothing to average: give tissues.{tissue}."
                f"expression, or use cross_gene_target gtex with tissues.{tissue}.gtex_tissue."
            )
    if target == "levels" and len(tissues) > 1:
        problems.append(
            "evaluation.cross_gene_target levels reads one matrix (sources.expression_levels), which "
            "cannot be the target of several tissues: use gtex (a column per tissue) or mean."
        )
    return problems


def cfg(*keys, default=None):
    """A nested config value, or `default` where a key is absent."""
    node = config
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


check_config()

CHROMOSOMES = config["chromosomes"]
DEMO = "simulate" in config
# A run without sources.vcf is cross-gene only: reference windows, no individual protocols (config/README.md).
GENOTYPES = DEMO or bool(config.get("sources", {}).get("vcf"))
# The protocols of the run's prediction rows (hapexpr.protocols.PROTOCOLS; README "Protocols").
ALL_PROTOCOLS = ["cross_gene", "cross_individual", "cross_population", "unseen_gene_individual"]
PROTOCOLS = ALL_PROTOCOLS if GENOTYPES else ["cross_gene"]
if not GENOTYPES and config.get("models", {}).get("elastic_net", {}).get("enabled"):
    logger.warning(
        "models.elastic_net is enabled but the config has no sources.vcf (a cross-gene-only run): "
        "the elastic net needs genotypes and is left out"
    )


# Tissues (config/README.md, "Tissues"): the expression targets of the run. Every model, metric and association is
# per tissue; the haplotype store, features and splits are shared.
def tissue_settings():
    """{tissue: {expression: source | "simulated" | None, gtex_tissue}}: the config's `tissues`, else one tissue,
    `default`, whose matrix is sources.expression (the simulated one in the demo) and GTEx column
    evaluation.gtex_tissue."""
    if cfg("tissues"):
        return {name: dict(props or {}) for name, props in config["tissues"].items()}
    return {
        "default": {
            "expression": "simulated" if DEMO else cfg("sources", "expression"),
            "gtex_tissue": cfg("evaluation", "gtex_tissue"),
        }
    }


TISSUE_SETTINGS = tissue_settings()
TISSUES = list(TISSUE_SETTINGS)


def tissue_expression_source(tissue):
    """The file a tissue's personal expression matrix is downloaded (or simulated) to; None without one."""
    source = TISSUE_SETTINGS[tissue].get("expression")
    if source is None:
        return None
    if source == "simulated" or not cfg("tissues"):
        return EXPRESSION
    return f"resources/expression/tissues/{tissue}.txt.gz"


def tissue_source_files(tissue):
    """A tissue's own expression source as an input file when it is local (as local_source)."""
    source = TISSUE_SETTINGS[tissue].get("expression")
    path = local_source_path(source.get("url")) if isinstance(source, dict) else None
    return [path] if path else []


def tissue_expression_format(tissue):
    source = TISSUE_SETTINGS[tissue].get("expression")
    return source.get("format", "geuvadis") if isinstance(source, dict) and cfg("tissues") else expression_format()


def tissue_protocols(tissue):
    """The protocols of a tissue's rows: all of the run's with a personal matrix, else cross_gene only."""
    return PROTOCOLS if TISSUE_SETTINGS[tissue].get("expression") else ["cross_gene"]


def run_protocols(tissue=None):
    """A tissue's protocols; with None, the run's (those of any tissue)."""
    return PROTOCOLS if tissue is None else tissue_protocols(tissue)


def personal_tissues():
    """The tissues with a personal expression matrix, in config order."""
    return [t for t in TISSUES if tissue_expression_source(t)]


def personal_matrices():
    """Every tissue's personal expression matrix (one file may serve only one tissue)."""
    return [tissue_expression_source(t) for t in personal_tissues()]


def genes_tissue_inputs():
    """{tissue: hapexpr.genes.TissueInputs arguments} of the genes rule."""
    return {
        t: {
            "expression": tissue_expression_source(t),
            "expression_format": tissue_expression_format(t),
            "gtex_tissue": TISSUE_SETTINGS[t].get("gtex_tissue"),
        }
        for t in TISSUES
    }


def tissue_genes(wildcards):
    return f"results/genes/{wildcards.tissue}/genes.tsv"


def tissue_matrix(wildcards):
    return f"results/expression/{wildcards.tissue}.parquet"


# File contracts of the download/simulate stage (DESIGN.md): every later stage reads these paths.
REFERENCE = "resources/reference/genome.fa.gz"
ANNOTATION = "resources/annotation/genes.gtf.gz"
VCF = "resources/vcf/{chrom}.vcf.gz"
EXPRESSION = "resources/expression/expression.txt.gz"
POPULATIONS = "resources/samples/populations.tsv"
GTEX = "resources/expression/gtex_median_tpm.gct.gz"
LEVELS = "resources/expression/levels.txt.gz"
PHENOTYPES = "resources/phenotypes/phenotypes.tsv"


wildcard_constraints:
    chrom="|".join(re.escape(c) for c in CHROMOSOMES),
    tissue="|".join(re.escape(t) for t in TISSUES),


def attempt_scaled(base):
    """A resource (mem_mb, runtime) that grows with each attempt: `base` first, then base x attempt, so that a job
    killed for memory or time is retried (profile `retries`) with more instead of identically."""
    return lambda wildcards, attempt: base * attempt


def get_vcf(wildcards):
    """The chromosome's VCF and index; none in a cross-gene-only run."""
    if not GENOTYPES:
        return {}
    vcf = VCF.format(chrom=wildcards.chrom)
    return {"vcf": vcf, "tbi": f"{vcf}.tbi"}


def all_vcfs():
    return expand(VCF, chrom=CHROMOSOMES) if GENOTYPES else []


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


def levels_input():
    """The matrix of expression levels of the cross-gene target, when evaluation.cross_gene_target is `levels`."""
    return LEVELS if cfg("evaluation", "cross_gene_target") == "levels" else []


def final_outputs():
    """Every target of the run, from config: turning a model off removes its jobs from the DAG."""
    targets = [
        "results/genes/genes.tsv",
        "results/individuals.tsv",
        *haplotype_counts(),
    ]
    if prediction_names():
        targets += [
            "results/benchmark/summary.tsv",
            "results/report/overview.html",
            "results/report/training_curves.png",
            "results/report/provenance.html",
            *expand("results/report/{tissue}/{page}.html", tissue=TISSUES, page=["summary", "benchmark_grid"]),
        ]
    for tissue, enet in [(t, n) for t, n in tissue_names() if n in ELASTIC_NETS]:
        targets += [f"results/models/{tissue}/{enet}/weights.tsv", f"results/models/{tissue}/{enet}/genes.tsv"]
    return targets + dexter_outputs() + gta_targets() + trait_targets()


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


def local_source_path(url):
    """The file behind a plain path or file:// URL, which the download rules copy (as hapexpr.download.is_local
    decides); None for a download. Being a rule input, a source changed after a run is copied again."""
    parsed = urllib.parse.urlparse(str(url or ""))
    if not url or not (parsed.scheme in ("", "file") or len(parsed.scheme) == 1):
        return None
    return urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else str(url)


def local_source(name):
    """sources.<name>.url as an input file when it is local."""
    path = local_source_path(download_source(name, "url"))
    return [path] if path else []


def local_vcf_source(wildcards):
    path = local_source_path(vcf_url(wildcards))
    return [path] if path else []


def vcf_md5(wildcards):
    """The chromosome's MD5 from sources.vcf.md5, if the config gives one."""
    return download_source("vcf", "md5", default={}).get(wildcards.chrom)


def vcf_manifest_input():
    """The fetched checksum manifest, when sources.vcf.manifest names one."""
    return "resources/vcf/manifest.txt" if download_source("vcf", "manifest") else []


# --- Models and evaluation (classical models, evaluate stage) ---

# Models whose predictions are written per chromosome and gathered into results/predictions/{name}.parquet.
PER_CHROMOSOME_MODELS = ["gc_cpg", "kmer_ridge", "elastic_net", "elastic_net_window", "dexter"]
# The elastic net and its window-restricted control: one rule, one library function (hapexpr.elastic_net).
ELASTIC_NETS = ["elastic_net", "elastic_net_window"]
# Models that need genotypes and leave the DAG of a cross-gene-only run; models that read no sequence window.
GENOTYPE_MODELS = ELASTIC_NETS
WINDOWLESS_MODELS = [*ELASTIC_NETS, "dna_lm"]


def prediction_models(tissue=None):
    """{prediction name: its model} (of `tissue`; None: of the run): each enabled model, plus <model>_<variant> for
    its configured variants."""
    names = {}
    for model, props in (cfg("models", default={}) or {}).items():
        if not (props or {}).get("enabled", False):
            continue
        if model in GENOTYPE_MODELS and "cross_individual" not in run_protocols(tissue):
            continue  # a cross-gene-only run or tissue has no genotypes or targets to fit it on (config/README.md)
        names[model] = model
        for variant in props.get("variants", []) or []:
            label = variant.get("name") if isinstance(variant, dict) else variant
            names[f"{model}_{label}"] = model
    # a neural model or variant configured for none of the tissue's protocols (e.g. cross_individual only, in a
    # GTEx-only tissue) has no prediction there
    return {name: model for name, model in names.items() if name_protocols(name, model, tissue)}


def name_protocols(name, model, tissue=None):
    """The trained protocols of a prediction name in `tissue` (every classical model predicts cross_gene)."""
    if model == "gta":
        return gta_protocols(name, tissue)
    if model == "cnn":
        return cnn_protocols(tissue)
    if model == "dnabert2":
        variant = {"dnabert2": "finetuned", "dnabert2_shuffled": "shuffled"}.get(name, "frozen")
        return dnabert2_protocols(variant, tissue)
    return run_protocols(tissue)


def model_window(model):
    """The window (bp around the TSS) a model reads: models.<model>.window, default window.length."""
    return cfg("models", model, "window", default=config["window"]["length"])


def haplotype_window():
    """The window the haplotype store is built at: the largest window of the enabled models that read one."""
    windows = [
        model_window(model)
        for model, props in (cfg("models", default={}) or {}).items()
        if (props or {}).get("enabled", False) and model not in WINDOWLESS_MODELS
    ]
    return max(windows, default=config["window"]["length"])


def prediction_names(tissue=None):
    """Names of the prediction files (of `tissue`; None: of the run): each enabled model, plus <model>_<variant>
    for its configured variants."""
    return list(prediction_models(tissue))


def tissue_names(tissues=None):
    """[tissue, prediction name] of every tissue (or of `tissues`) and each of its prediction names, in the order
    of tissue_files."""
    return [[t, n] for t in (TISSUES if tissues is None else tissues) for n in prediction_names(t)]


def tissue_files(pattern, names=True):
    """`pattern` (with {tissue}, and {name} when `names`) for every tissue and each of its prediction names."""
    if not names:
        return expand(pattern, tissue=TISSUES)
    return [pattern.format(tissue=t, name=n) for t, n in tissue_names()]


def model_windows():
    """{prediction name: the DNA it reads, in words}: models.<model>.window (default window.length); the elastic
    net's cis variants within +-cis_window; elastic_net_window's variants inside its window."""
    windows = {}
    for name, model in prediction_models().items():
        if model == "elastic_net":
            cis = cfg("models", "elastic_net", "cis_window", default=500000)
            windows[name] = f"cis variants within +-{cis} bp"
        elif model == "elastic_net_window":
            windows[name] = f"variants inside {model_window(model)} bp"
        else:
            windows[name] = f"{model_window(model)} bp"
    return windows


def model_properties(model):
    """A model's config section without the `enabled` switch and `variants` list (what the library receives)."""
    props = dict(cfg("models", model, default={}) or {})
    props.pop("enabled", None)
    props.pop("variants", None)
    return props


def elastic_net_settings(wildcards):
    """models.elastic_net as ElasticNetConfig arguments; elastic_net_window restricts the cis variants to its window
    (models.elastic_net_window.window, default window.length: the variants a 4-kb sequence model sees)."""
    settings = model_properties("elastic_net")
    settings.pop("window", None)  # the plain elastic net uses +-cis_window, whatever window the section names
    if wildcards.enet == "elastic_net_window":
        settings["window"] = model_window("elastic_net_window")
    return settings


def haplotype_store(chrom):
    """The files of one chromosome's haplotype store (rule haplotypes), the main (sequences) file first."""
    return {
        "sequences": f"results/haplotypes/{chrom}.sequences.parquet",
        "map": f"results/haplotypes/{chrom}.map.parquet",
    }


def haplotype_stores(part="sequences"):
    """One file of every chromosome's haplotype store: `sequences` (the main file, read_windows) or `map`."""
    return [haplotype_store(chrom)[part] for chrom in CHROMOSOMES]


def chromosome_store(wildcards):
    return haplotype_store(wildcards.chrom)


def sequence_model_inputs(wildcards):
    """What a sequence model needs to predict one chromosome: its haplotype store, genes, expression, individuals."""
    return {
        **haplotype_store(wildcards.chrom),
        "genes": tissue_genes(wildcards),
        "expression": tissue_matrix(wildcards),
        "individuals": "results/individuals.tsv",
    }


# --- Models: DExTER ---
def dexter_outputs():
    """DExTER's predictions and domain table of each tissue, when models.dexter.enabled."""
    if not cfg("models", "dexter", "enabled", default=False):
        return []
    return tissue_files("results/predictions/{tissue}/dexter.parquet", names=False) + tissue_files(
        "results/models/{tissue}/dexter/domains.tsv", names=False
    )


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
GTA_NAME = "gta(_no_prompt|_shuffled_prompt|_random_lm|_prompt_only|_shuffled)?"


def gta_names():
    """The prediction names of GTA: `gta` plus `gta_<variant>` for each configured ablation."""
    if not cfg("models", "gta", "enabled", default=False):
        return []
    return ["gta"] + [f"gta_{v}" for v in cfg("models", "gta", "variants", default=[])]


def gta_targets():
    if not gta_names():
        return []
    predictions = [f"results/predictions/{t}/{n}.parquet" for t, n in tissue_names() if n in gta_names()]
    interpreted = [t for t in TISSUES if "cross_gene" in gta_protocols("gta", t)]  # attributions: cross-gene GTA
    return predictions + expand(
        "results/models/{tissue}/gta/attribution_by_distance.{ext}", tissue=interpreted, ext=["tsv", "png"]
    )


def gta_protocols(name="gta", tissue=None):
    """Protocols of `gta` (in `tissue`; any tissue's when None); the ablations use `variant_protocols` (default:
    the same)."""
    protocols = cfg("models", "gta", "protocols", default=["cross_gene", "cross_individual"])
    if name != "gta":
        protocols = cfg("models", "gta", "variant_protocols", default=None) or protocols
    return [p for p in protocols if p in run_protocols(tissue)]


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
    if cfg("models", "gta", "encoder", default="cnn") in ("cnn", "kmer"):  # trained with GTA: no model files
        return []
    if cfg("models", "gta", "encoder_path", default=None):
        return [cfg("models", "gta", "encoder_path")]
    return dnabert2_model_files()


def gta_inputs(wildcards):
    return {
        "genes": tissue_genes(wildcards),
        "expression": tissue_matrix(wildcards),
        "individuals": "results/individuals.tsv",
        "sequences": haplotype_stores(),
        "maps": haplotype_stores("map"),
        "llm": gta_llm_dir(),
        "encoder": gta_encoder_files(),
        "annotation": cfg("models", "gta", "annotation", default=None) or [],
    }


def allow_cpu():
    """training.allow_cpu: a rule declaring resources gpu=1 may run on a CPU when no CUDA device is visible."""
    return cfg("training", "allow_cpu", default=False)


# The one-hot CNN (workflow/rules/models/cnn.smk)
def cnn_protocols(tissue=None):
    """The protocols the CNN trains a model for (cross_gene only in a cross-gene-only run or tissue)."""
    protocols = cfg("models", "cnn", "protocols", default=["cross_gene", "cross_individual"])
    return [p for p in protocols if p in run_protocols(tissue)]


def cnn_inputs(wildcards):
    return {
        "genes": tissue_genes(wildcards),
        "expression": tissue_matrix(wildcards),
        "individuals": "results/individuals.tsv",
        "sequences": haplotype_stores(),
        "maps": haplotype_stores("map"),
    }


def gta_weights(wildcards):
    name = wildcards.get("name", "gta")
    return expand(
        "results/models/{tissue}/gta/{name}/{protocol}/model.safetensors",
        tissue=wildcards.tissue,
        name=name,
        protocol=gta_protocols(name, wildcards.tissue),
    )


def gta_model_dir(weights):
    """The model's directory from the path of one of its protocol's weights: results/models/<tissue>/gta/<name>
    (GTA), results/models/<tissue>/cnn (the CNN)."""
    return os.path.dirname(os.path.dirname(weights))


# --- Report ---
OVERVIEW = "results/report/overview.json"

# The landing page (workflow.rst) is rendered with the config only: hand it the run's counts once they exist.
if os.path.exists(OVERVIEW):
    with open(OVERVIEW) as fh:
        config["run_overview"] = json.load(fh)


def run_rules():
    """The rules of this run with a benchmark file: every rule except those of disabled models (a rule of
    workflow/rules/models/<model>.smk or common_<model>.smk belongs to the config's models.<model>) and, in a run
    without traits, the trait rules."""
    sections = cfg("models", default={}) or {}
    models = {m for m, props in sections.items() if (props or {}).get("enabled")}
    if "gta" in models and cfg("models", "gta", "encoder", default="cnn") == "dnabert2":
        models.add("dnabert2")  # its pretrain_dna_lm (or downloaded) model is GTA's encoder
    selected = []
    for candidate in workflow.rules:
        folder, name = os.path.split(str(candidate.snakefile))
        in_models = os.path.basename(folder) == "models"
        model = name.removesuffix(".smk").removeprefix("common_") if in_models else None
        if candidate.name in TRAIT_RULES and not TRAITS:
            continue  # a run without traits (or one that turned them off): no trait job of an earlier run listed
        if candidate.benchmark and (model not in sections or model in models):
            selected.append(candidate)
    return selected


def run_benchmark_patterns(wildcards):
    """{rule: benchmark pattern} of this run's rules; the report keeps the files of this config's chromosomes and
    prediction names (hapexpr.report.run_benchmark_files), so that no disabled model's job is listed."""
    return {r.name: str(r.benchmark) for r in run_rules()}


def run_environments(wildcards):
    """{env file: {rules, dependencies}} of the conda envs of this run's rules (workflow/envs/), for the report."""
    import yaml

    envs = {}
    for r in run_rules():
        if r.conda_env:
            name = os.path.basename(str(r.conda_env))
            envs.setdefault(name, {"rules": [], "dependencies": []})["rules"].append(r.name)
    for name, env in envs.items():
        with open(workflow.source_path(f"../envs/{name}")) as fh:
            env["dependencies"] = yaml.safe_load(fh).get("dependencies", [])
    return envs


def used_conda():
    return "conda" in {str(m).lower() for m in workflow.deployment_settings.deployment_method}


def trait_predictions():
    """The predictions files of every tissue with personal predictions (a personal matrix), in tissue_names order."""
    return [f"results/predictions/{t}/{n}.parquet" for t, n in tissue_names(personal_tissues())]


def haplotype_counts():
    return expand("results/haplotypes/{chrom}.counts.tsv", chrom=CHROMOSOMES)


def truth_genes():
    return "resources/truth/genes.tsv" if DEMO else []


def training_logs():
    """Training logs (hapexpr.training, one set of columns) of the neural models, by label: DNABERT-2, GTA and the
    CNN, per protocol (and tissue, when the run has several)."""
    logs = {}
    for tissue in TISSUES:
        where = f"{tissue}, " if len(TISSUES) > 1 else ""
        models = f"results/models/{tissue}"
        if cfg("models", "dnabert2", "enabled", default=False):
            for protocol in dnabert2_protocols(tissue=tissue):
                logs[f"dnabert2 ({where}{protocol})"] = f"{models}/dnabert2/finetuned/{protocol}/training_log.tsv"
        if cfg("models", "gta", "enabled", default=False):
            for protocol in gta_protocols(tissue=tissue):
                logs[f"gta ({where}{protocol})"] = f"{models}/gta/gta/{protocol}/training_log.tsv"
        if cfg("models", "cnn", "enabled", default=False):
            for protocol in cnn_protocols(tissue):
                logs[f"cnn ({where}{protocol})"] = f"{models}/cnn/{protocol}/training_log.tsv"
    return logs


# --- Traits (workflow/rules/traits.smk) ---
# In the DAG only when traits.traits names traits (the demo's simulate writes the phenotype table; a real run
# downloads sources.phenotypes) and the run has genotypes.
TRAITS = bool(cfg("traits", "traits")) and GENOTYPES
TRAIT_RULES = ["phenotypes", "polygenic_score", "associate_traits", "risk", "report_traits"]


def trait_types():
    """{trait: quantitative | binary} of traits.traits."""
    return {name: props["type"] for name, props in (cfg("traits", "traits", default={}) or {}).items()}


def trait_setting(key, default):
    return cfg("traits", key, default=default)


def trait_truth():
    """The planted causal genes of the demo's traits (power and FDR of the association); none in a real run."""
    return "resources/truth/trait_genes.tsv" if DEMO else []


def risk_metrics():
    """The risk metrics that go into the benchmark summary, when traits are configured."""
    return "results/traits/risk.tsv" if TRAITS else []


def trait_report_page():
    """The report's traits tables of each tissue with personal predictions (the provenance page waits for them: its
    runtime table lists every job)."""
    return expand("results/report/{tissue}/traits.html", tissue=personal_tissues()) if TRAITS else []


def trait_targets():
    if not TRAITS or not prediction_names():
        return []
    return [
        "results/traits/association.tsv",
        "results/traits/discoveries.tsv",
        "results/traits/risk.tsv",
        *trait_report_page(),
    ]
