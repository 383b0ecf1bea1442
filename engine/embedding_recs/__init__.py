"""Recommenders built on item text embeddings (LLM-Sequential-Recommendation): LLMSeqSim, SKNN_EMB and the
popularity hybrids LLMSeqSim & Sequential / LLMSeqSim & Popularity. Each reads an embedding artifact
written by launch.embed (engine.data.item_embeddings) and has the Recommender shape of engine.recommender.

The model names a config can give them are in engine.runner.registry."""
