"""medmllm validate: build everything a training config describes, without training."""

NAME = "validate"
HELP = "build the model, data, stages, optimiser and strategy of a training config without training"
DESCRIPTION = """Build every stage of a training config (model, freeze policy, DataModule and one
batch with its loss, optimiser groups, Lightning strategy) and print a summary; nothing trains and
nothing is written. Dotted overrides work as for `medmllm train` (e.g. a tiny model for a quick
check). Stages after the first are built from their own config (the previous stage's export does
not exist yet). GPU-only strategies (FSDP, DeepSpeed) are built and reported on a CPU machine,
with a note that training with them needs CUDA GPUs.

examples:
  medmllm validate --config configs/smollm2.yaml
  medmllm validate --config configs/examples/qwen2.5-siglip-vit3d-fsdp8.yaml --no-data
"""
ORDER = 51


OVERRIDES = True  # takes --dotted.key=value overrides


def add_arguments(parser):
    parser.add_argument("--config", metavar="YAML", required=True, help="the training config")
    parser.add_argument("--no-data", action="store_true", help="skip building the data (manifests not at hand)")


def run(args):
    from medmllm.commands.train import quiet_lightning
    from medmllm.config import load_config
    from medmllm.models.estimate import check_config_fits
    from medmllm.training.validate import validate_config

    quiet_lightning(True)
    cfg = load_config(args.config, args.overrides)
    check_config_fits(cfg, purpose="be built")
    report = validate_config(cfg, build_data=not args.no_data)
    for line in report.lines:
        print(line)
    print(f"ok: {args.config} builds ({len(report.stages)} stage{'s' * (len(report.stages) > 1)})")
    return 0
