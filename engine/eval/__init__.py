"""Evaluation: ranking metrics (one module) and one module per protocol's scoring loop."""
