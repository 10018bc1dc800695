# The one-hot CNN control: GTA's convolutional segment encoder with a regression head, trained from scratch by the
# same trainer on the same protocols as DNABERT-2 and GTA. Library: workflow/scripts/hapexpr/cnn.py.
rule train_cnn:
    input:
        unpack(cnn_inputs),
    output:
        config="results/models/cnn/{protocol}/config.json",
        weights="results/models/cnn/{protocol}/model.safetensors",
        training_log="results/models/cnn/{protocol}/training_log.tsv",
    log:
        "logs/train_cnn/{protocol}.log",
    benchmark:
        "results/runtime/train_cnn/{protocol}.tsv"
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
        models=expand("results/models/cnn/{protocol}/model.safetensors", protocol=cnn_protocols()),
    output:
        "results/predictions/cnn.parquet",
    log:
        "logs/predict_cnn.log",
    benchmark:
        "results/runtime/predict_cnn.tsv"
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
        protocols=cnn_protocols(),
        window=model_window("cnn"),
        seed=config["seed"],
        allow_cpu=allow_cpu(),
        model_dir=lambda wildcards, input: gta_model_dir(input.models[0]),
    script:
        "../../scripts/predict_cnn.py"
