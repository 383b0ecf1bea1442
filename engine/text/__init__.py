"""Text encoders and embedding reductions for the engine.

`minilm`: a BERT sentence encoder in Flax NNX that loads all-MiniLM-L6-v2 from its Hugging Face files
(safetensors + tokenizer.json) and reproduces the sentence-transformers pipeline (mean pooling, L2
normalisation). `reduction`: PCA, LDA, an autoencoder and a Gaussian random projection from the text
embedding width to a recommender's width, keeping row 0 (padding) at zero.
"""
