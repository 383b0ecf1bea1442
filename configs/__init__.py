"""ml_collections config files: `get_config(preset)` per model, overridable with --config.a.b=v."""
