"""Evaluation: embedding extraction, exact retrieval ranks, metrics and bootstrap intervals."""
