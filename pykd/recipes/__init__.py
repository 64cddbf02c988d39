"""Recipes built on distill(): a sweep of temperatures and alphas, the noised
student, and teacher logits computed ahead of time (also out of fold)."""
