"""Evaluation: metrics files, reports, the study's result files and the pull-request review."""
