"""medmllm.models"""
