# Input functions and settings of the DNABERT-2 rules (models/dnabert2.smk); config keys in config/README.md.

import os

DNABERT2_PROTOCOLS = ["cross_gene", "cross_individual"]


wildcard_constraints:
    model_name="[A-Za-z0-9][A-Za-z0-9._-]*",
    fit="finetuned|shuffled",
    protocol="cross_gene|cross_individual",


def dnabert2_cfg(key, default=None):
    return cfg("models", "dnabert2", key, default=default)


def dna_lm_cfg(key, default=None):
    return cfg("models", "dna_lm", key, default=default)


def dnabert2_model_spec():
    return dnabert2_cfg("model", default="dna_lm")


def dnabert2_is_local(spec):
    spec = os.path.expanduser(spec)
    return os.path.isabs(spec) or spec.startswith(".") or os.path.isdir(spec)


def dnabert2_model_dir():
    """The model directory: the pretrain_dna_lm output, a local directory, or the download_model target."""
    spec = dnabert2_model_spec()
    if spec == "dna_lm":
        return "results/models/dna_lm"
    if dnabert2_is_local(spec):
        return os.path.expanduser(spec)
    return f"resources/models/{os.path.basename(spec)}"


def dnabert2_model_files(wildcards=None):
    if dnabert2_model_spec() == "dna_lm":
        return expand(
            "results/models/dna_lm/{f}",
            f=["config.json", "model.safetensors", "tokenizer.json"],
        )
    return [dnabert2_model_dir()]


def dnabert2_fit(name):
    """The fit behind a prediction name: dnabert2_shuffled is the shuffled-target control."""
    return "shuffled" if name == "dnabert2_shuffled" else "finetuned"


def dnabert2_protocols(variant="finetuned", tissue=None):
    """The protocols DNABERT-2 trains a model for (cross_gene only in a cross-gene-only run or tissue; any tissue's
    when `tissue` is None); its controls (the shuffled-target fit, the frozen embeddings + ridge) use
    `variant_protocols` (default: the same)."""
    protocols = dnabert2_cfg("protocols", default=DNABERT2_PROTOCOLS)
    if variant != "finetuned":
        protocols = dnabert2_cfg("variant_protocols", default=None) or protocols
    return [p for p in protocols if p in run_protocols(tissue)]


def dnabert2_tokens():
    return expand("results/features/dnabert2_tokens/{chrom}.parquet", chrom=CHROMOSOMES)


def haplotype_maps():
    return haplotype_stores("map")


def dnabert2_settings():
    """models.dnabert2 as hapexpr.dnabert2_train.FinetuneSettings reads it (keys that are not settings are ignored)."""
    return {**model_properties("dnabert2"), "seed": config["seed"]}


def pretrain_genes():
    """models.dnabert2.pretrain_genes: the genes whose reference windows pretrain_dna_lm sees (train or all)."""
    return dnabert2_cfg("pretrain_genes", default="train")
