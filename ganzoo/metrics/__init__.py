"""Evaluation metrics: the pure score math lives in :mod:`ganzoo.metrics.scores`."""
