from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/genes.smk"
include: "workflow/rules/models/gta.smk"


rule all:
    input:
        final_outputs(),
    localrule: True
    default_target: True
