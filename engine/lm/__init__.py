"""The JAX causal LM (Llama, Qwen2) and its LoRA adapters.

convert (GGUF -> Hugging Face dir), config, weights (checked loader), model (Flax NNX), tokenizer (+ chat
template), templates (prompt formats), batching (buckets, padding, mesh), generate (KV cache), score
(continuations, verbalizers), data + train (LoRA tuning), adapters (PEFT files), export (merged dir, GGUF),
tasks (instruction data from the shared datasets), stages (sequential LoRA stages), report, bench.
"""
