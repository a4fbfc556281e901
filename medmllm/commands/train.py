"""medmllm train: one training stage or a pipeline of stages from a config."""

NAME = "train"
HELP = "train one stage or a pipeline of stages (encoder, align, report, instruct, clinical) from a config"
DESCRIPTION = """Train from a YAML config: `model`, `data`, `train` (one stage) or those plus `pipeline`
(stages run in order, each starting from the previous stage's export).

Dotted overrides change any key: --train.max_steps=200 --pipeline.1.train.optim.lr=1e-4.
Runs go to train.run_dir (default runs/<config>-<time>): Lightning checkpoints (best, last, every
N steps), CSV logs, generated validation samples, and one export per stage; RUN_DIR/export is the
final model. --resume RUN_DIR continues an interrupted run exactly where its last checkpoint was
(finished stages are skipped); overrides given with --resume change the saved config.

examples:
  medmllm train --config configs/tiny.yaml
  medmllm train --config configs/smollm2.yaml --train.max_steps=50 --train.run_dir=runs/smol
  medmllm train --resume runs/smol
  medmllm train --config configs/tiny.yaml --print-config
  torchrun --nproc_per_node=8 -m medmllm train --config configs/examples/qwen2.5-siglip-vit3d-fsdp8.yaml
"""
ORDER = 50


OVERRIDES = True  # takes --dotted.key=value overrides


def add_arguments(parser):
    parser.add_argument("--config", metavar="YAML", help="the training config")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder (its saved config is used)")
    parser.add_argument("--run-dir", metavar="DIR", help="run folder (same as --train.run_dir=DIR)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config of every stage (all keys, defaults included) and exit")


def quiet_lightning(quiet):
    """Lightning logs warnings only (no duplicate lines); its well-known harmless warnings are hidden."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)  # medmllm logs what matters (stages, checkpoints, metrics)
        logger.propagate = False  # Lightning has its own handler: no duplicate lines
    for msg in (".*does not have many workers.*", ".*LeafSpec.*", ".*exists and is not empty.*",
                ".*litlogger.*", ".*The number of training batches.*", ".*Found .* module\\(s\\) in eval mode.*"):
        warnings.filterwarnings("ignore", message=msg)


def print_config(cfg):
    """The resolved config of every stage as YAML: all keys, defaults and stage presets filled in."""
    from pathlib import Path

    import yaml

    from medmllm.config import ModelConfig, from_dict, to_plain
    from medmllm.training.plan import build_plan

    stages = []
    for ctx in build_plan(cfg, Path(".")):
        stages.append({"name": ctx.name, "stage": ctx.stage.name,
                       "model": to_plain(from_dict(ModelConfig, ctx.config.get("model"), "model")),
                       "data": to_plain(ctx.data),
                       "train": to_plain(ctx.train)})
    return yaml.safe_dump({"stages": stages}, sort_keys=False, allow_unicode=True)


def run(args):
    from medmllm.config import load_config, parse_overrides
    from medmllm.errors import InputError
    from medmllm.models.estimate import check_config_fits
    from medmllm.training.train import train

    quiet_lightning(args.quiet)
    overrides = list(args.overrides)
    if args.run_dir:
        overrides.append(f"--train.run_dir={args.run_dir}")
    if args.print_config:
        if not args.config:
            raise InputError(None, "train --print-config: give --config YAML")
        print(print_config(load_config(args.config, overrides)), end="")
        return 0
    if args.resume:
        result = train(resume=args.resume, overrides=parse_overrides(overrides), quiet=args.quiet)
    else:
        if not args.config:
            raise InputError(None, "train: give --config YAML (or --resume RUN_DIR)")
        cfg = load_config(args.config, overrides)
        check_config_fits(cfg, purpose="train")
        result = train(cfg, config_path=args.config, quiet=args.quiet)
    print(f"run: {result.run_dir}")
    for name, path in result.exports.items():
        metrics = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in result.metrics.get(name, {}).items())
        print(f"  stage {name}: export {path}" + (f"  ({metrics})" if metrics else ""))
    if result.export is not None:
        print(f"final export: {result.run_dir / 'export'}")
    return 0
