"""Descriptions, labels and datasets: the text the LLM learns from."""
