"""Fine-tuning, prediction, evaluation and the model registry."""
