"""medmllm.evaluation.benchmarks"""
