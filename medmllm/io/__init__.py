"""medmllm.io"""
