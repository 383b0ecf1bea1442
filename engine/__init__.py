"""JAX/Flax core of the engine: data, sequential models, trainer and evaluation.

`engine` never imports `llm`; the two exchange artifacts through files in the run directory.
"""
