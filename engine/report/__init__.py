"""Result tables rendered from kept run files: the manifest that says which runs make which row
(manifest.py), the cells computed from results.json and per-prompt ranks (tables.py), the marked regions of
the documents they replace (documents.py), and the compact store of per-prompt test ranks (ranks_store.py).
Imports only engine.eval and engine.run_dir below it."""
