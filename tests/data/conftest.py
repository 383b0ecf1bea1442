"""Helpers shared by the data-layer tests: tiny files in tmp_path and a full data config."""

import gzip
import pathlib

import ml_collections
import pytest

from engine.data import sources
from engine.data.errors import DataError


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes, encoding="utf-8") -> path; gzips when the name ends in .gz."""

    def _write(name: str, content, encoding: str = "utf-8") -> pathlib.Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode(encoding) if isinstance(content, str) else content
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return _write


@pytest.fixture
def make_config(tmp_path):
    """make_config(**overrides): every data key of the engine's config, caching under tmp_path."""

    def _make(**overrides) -> ml_collections.ConfigDict:
        cfg = ml_collections.ConfigDict({
            "name": "custom", "root": "", "cache_dir": str(tmp_path / "cache"), "min_rating": 0.0,
            "user_core": 0, "item_core": 0, "dedup": False, "path": "", "item_text_path": "",
            "user_col": "user", "item_col": "item", "time_col": "timestamp", "rating_col": "",
        })
        cfg.update(overrides)
        return cfg

    return _make


@pytest.fixture
def shared_data() -> pathlib.Path:
    """The real data root ($SEQREC_DATA, else ../shared/data beside the checkout); skip when there is none."""
    try:
        return sources.resolve_data_root()
    except DataError as e:
        pytest.skip(f"real datasets not available: {e}")
