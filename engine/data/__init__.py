"""Data layer: read raw interaction files, preprocess them into per-user sequences, cache the result.

    from engine.data import load_dataset
    dataset = load_dataset(config.data)   # a SequenceDataset, built once and then reused from the cache

See dataset.py for the processed-directory format and sources.py for the named datasets.
"""

from engine.data.dataset import FORMAT_VERSION, SequenceDataset
from engine.data.download import GROUPLENS, download_and_extract, download_grouplens
from engine.data.errors import DataError
from engine.data.sources import KNOWN_DATASETS, load_dataset, resolve_data_root

__all__ = [
    "FORMAT_VERSION",
    "GROUPLENS",
    "KNOWN_DATASETS",
    "DataError",
    "SequenceDataset",
    "download_and_extract",
    "download_grouplens",
    "load_dataset",
    "resolve_data_root",
]
