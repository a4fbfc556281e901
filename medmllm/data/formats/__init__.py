"""medmllm.data.formats"""
