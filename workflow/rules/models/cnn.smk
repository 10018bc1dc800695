# The one-hot CNN control: GTA's convolutional segment encoder with a regression head, trained from scratch by the
# same trainer on the same protocols as DNABERT-2 and GTA. Library: workflow/scripts/hapexpr/cnn.py.
rule train_cnn:
    input:
        unpack(cnn_inputs),
    output:
        config="results/models/{tissue}/cnn/{protocol}/config.json",
        weights="results/models/{tissue}/cnn/{protocol}/model.safetensors",
        training_log="results/models/{tissue}/cnn/{protocol}/training_log.tsv",
    log:
        "logs/{tissue}/train_cnn/{protocol}.log",
    benchmark:
        "results/runtime/{tissue}/train_cnn/{protocol}.tsv"
    conda:
        "../../envs/gta.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(720),
        gpu=1,
        cpus_per_gpu=4,
    params:
        settings=model_properties("cnn"),
        window=model_window("cnn"),
        seed=config["seed"],
        allow_cpu=allow_cpu(),
        outdir=lambda wildcards, output: gta_model_dir(output.weights),
    script:
        "../../scripts/train_cnn.py"


rule predict_cnn:
    input:
        unpack(cnn_inputs),
        models=lambda wc: expand(
            "results/models/{tissue}/cnn/{protocol}/model.safetensors",
            tissue=wc.tissue,
            protocol=cnn_protocols(wc.tissue),
        ),
    output:
        "results/predictions/{tissue}/cnn.parquet",
    log:
        "logs/{tissue}/predict_cnn.log",
    benchmark:
        "results/runtime/{tissue}/predict_cnn.tsv"
    conda:
        "../../envs/gta.yaml"
    threads: 4
    resources:
        mem_mb=attempt_scaled(16000),
        runtime=attempt_scaled(240),
        gpu=1,
        cpus_per_gpu=4,
    params:
        settings=model_properties("cnn"),
        protocols=lambda wildcards: cnn_protocols(wildcards.tissue),
        window=model_window("cnn"),
        seed=config["seed"],
        allow_cpu=allow_cpu(),
        model_dir=lambda wildcards, input: gta_model_dir(input.models[0]),
    script:
        "../../scripts/predict_cnn.py"
