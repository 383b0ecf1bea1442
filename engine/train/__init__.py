"""The trainer: one mesh, a compiled step that donates its state, orbax checkpoints, early stopping."""
