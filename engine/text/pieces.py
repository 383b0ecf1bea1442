"""Finished pieces of a long row-by-row computation, saved one file each, so a killed job resumes.

Embedding 12,000 item texts takes over an hour on a small CPU; without this a kill at 90% loses it all.

    store = PieceStore(directory, {"rows": len(texts), "piece_rows": 512, "source": "minilm"})
    vectors = store.load(k, expected_rows)      # None if piece k is not saved (or is damaged)
    store.save(k, vectors)                      # atomic: a kill leaves the old state or the new piece

The caller deletes the directory once the whole result is written.

The manifest says how the work was cut into pieces. A directory cut another way (another batch size, say)
holds pieces that do not line up with this run's, so it is emptied rather than half-reused. The caller keys
the directory by everything that decides the answers (model, texts); the store only checks the cut.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np

from engine.run_dir import write_atomic, write_json_atomic

MANIFEST = "manifest.json"


class PieceStore:
    def __init__(self, directory: str | pathlib.Path, manifest: dict):
        self.directory = pathlib.Path(directory)
        self.manifest = json.loads(json.dumps(manifest))  # as it reads back from JSON (tuples become lists)
        try:
            saved = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if saved != self.manifest:  # cut another way, or pieces without a manifest: unusable
            shutil.rmtree(self.directory, ignore_errors=True)

    def _path(self, index: int) -> pathlib.Path:
        return self.directory / f"piece-{index:06d}.npy"

    def load(self, index: int, rows: int) -> np.ndarray | None:
        try:
            array = np.load(self._path(index))
        except (OSError, ValueError):
            return None
        return array if array.ndim == 2 and array.shape[0] == rows else None

    def save(self, index: int, array: np.ndarray) -> None:
        if not (self.directory / MANIFEST).is_file():  # created with the first piece: a job that fails
            self.directory.mkdir(parents=True, exist_ok=True)  # before any answer leaves nothing behind
            write_json_atomic(self.directory / MANIFEST, self.manifest)
        write_atomic(self._path(index), "wb", lambda f: np.save(f, np.asarray(array)))
