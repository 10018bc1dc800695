# GTA (Genetic sequence Token Alignment): DNA segment features aligned to a frozen LLM's token-embedding space,
# prefixed with a prompt built from the gene's annotation. Library: workflow/scripts/hapexpr/gta.py.
rule gta_llm:
    output:
        directory("resources/models/gta_llm"),
    log:
        "logs/gta_llm.log",
    benchmark:
        "results/runtime/gta_llm.tsv"
    localrule: True
    conda:
        "../../envs/gta.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        llm=cfg("models", "gta", "llm", default="smollm2"),
        trust_remote_code=cfg("models", "gta", "trust_remote_code", default=False),
    script:
        "../../scripts/gta_llm.py"


rule train_gta:
    input:
        unpack(gta_inputs),
    output:
        weights="results/models/{tissue}/gta/{name}/{protocol}/model.safetensors",
        training_log="results/models/{tissue}/gta/{name}/{protocol}/training_log.tsv",
    log:
        "logs/{tissue}/train_gta/{name}/{protocol}.log",
    benchmark:
        "results/runtime/{tissue}/train_gta/{name}/{protocol}.tsv"
    wildcard_constraints:
        name=GTA_NAME,
        protocol="cross_gene|cross_individual",
    priority: 1
    conda:
        "../../envs/gta.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(720),
        gpu=1,
        cpus_per_gpu=4,
    params:
        settings=gta_settings(),
        window=model_window("gta"),
        seed=config["seed"],
        allow_cpu=allow_cpu(),
        outdir=lambda wildcards, output: gta_model_dir(output.weights),
    script:
        "../../scripts/train_gta.py"


rule predict_gta:
    input:
        unpack(gta_inputs),
        weights=gta_weights,
    output:
        "results/predictions/{tissue}/{name}.parquet",
    log:
        "logs/{tissue}/predict_gta/{name}.log",
    benchmark:
        "results/runtime/{tissue}/predict_gta/{name}.tsv"
    wildcard_constraints:
        name=GTA_NAME,
    priority: 1
    conda:
        "../../envs/gta.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(240),
        gpu=1,
        cpus_per_gpu=4,
    params:
        settings=gta_settings(),
        protocols=lambda wildcards: gta_protocols(wildcards.name, wildcards.tissue),
        window=model_window("gta"),
        seed=config["seed"],
        allow_cpu=allow_cpu(),
        model_dir=lambda wildcards, input: gta_model_dir(input.weights[0]),
    script:
        "../../scripts/predict_gta.py"


rule interpret_gta:
    input:
        unpack(gta_inputs),
        weights="results/models/{tissue}/gta/gta/cross_gene/model.safetensors",
    output:
        table="results/models/{tissue}/gta/attributions.tsv",
        by_distance="results/models/{tissue}/gta/attribution_by_distance.tsv",
        figure=report(
            "results/models/{tissue}/gta/attribution_by_distance.png",
            caption="../../report/gta_attribution.rst",
            category="5. Training and interpretation",
            labels={"tissue": "{tissue}", "figure": "GTA segment attributions"},
        ),
    log:
        "logs/{tissue}/interpret_gta.log",
    benchmark:
        "results/runtime/{tissue}/interpret_gta.tsv"
    conda:
        "../../envs/gta.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(240),
        gpu=1,
        cpus_per_gpu=4,
    params:
        settings=gta_settings(),
        window=model_window("gta"),
        seed=config["seed"],
        allow_cpu=allow_cpu(),
        bin_bp=cfg("models", "gta", "attribution_bin_bp", default=None),
        model_dir=lambda wildcards, input: gta_model_dir(input.weights),
    script:
        "../../scripts/interpret_gta.py"
