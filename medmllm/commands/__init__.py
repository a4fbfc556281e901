"""One module per ``medmllm`` subcommand (see :mod:`medmllm.cli`)."""
