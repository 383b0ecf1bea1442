"""LLM stages: each `run(config, workdir)` writes a standard run directory of artifacts (llm.stages.stage)."""
