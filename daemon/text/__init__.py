"""Descriptions and datasets: the text the LLM learns from (labels are in daemon/labels/)."""
