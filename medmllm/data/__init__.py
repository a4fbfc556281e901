"""medmllm.data"""
