"""Whole-pipeline orchestration: the demo, experiments and the supervisor of child processes."""
