"""medmllm info: versions and registered components."""

NAME = "info"
HELP = "print package versions and the registered encoders, connectors, LLMs, formats, benchmarks"
ORDER = 0


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args):
    import json
    import platform

    from medmllm.provenance import versions
    from medmllm.registry import ALL

    components = {}
    for key, reg in ALL.items():
        try:
            components[key] = reg.names()
        except ImportError as e:  # a part that is not built yet, or a broken install: say so
            components[key] = [f"<unavailable: {e}>"]
    info = {"python": platform.python_version(), "versions": versions(), "components": components}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"medmllm {info['versions']['medmllm']}  (python {info['python']})")
    for k, v in info["versions"].items():
        if k != "medmllm":
            print(f"  {k:<14} {v or 'not installed'}")
    for k, names in components.items():
        print(f"{k}: {', '.join(names) if names else '(none)'}")
    return 0
