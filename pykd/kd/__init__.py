"""Distillation itself: the exact loss, the teachers (a model, an ensemble or
precomputed logits) with their logit cache and precision, and feature hints."""
