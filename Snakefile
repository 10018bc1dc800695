from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/genes.smk"
include: "workflow/rules/haplotypes.smk"
include: "workflow/rules/models/gc_cpg.smk"
include: "workflow/rules/models/kmer_ridge.smk"
include: "workflow/rules/models/elastic_net.smk"
include: "workflow/rules/models/dexter.smk"
include: "workflow/rules/models/dnabert2.smk"
include: "workflow/rules/models/gta.smk"
include: "workflow/rules/models/cnn.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
    localrule: True
