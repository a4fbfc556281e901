"""medmllm.training"""
