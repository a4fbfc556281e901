"""medmllm.evaluation"""
