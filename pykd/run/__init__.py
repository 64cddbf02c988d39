"""A training run: its options (each declared once), the plan that checks them,
the build that makes the run, the trainer's epochs and steps, checkpoints, resume,
several workers, the frozen-prefix feature cache, history and progress."""
