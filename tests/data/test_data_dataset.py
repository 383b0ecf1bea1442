"""SequenceDataset: accessors, the processed-directory round trip, atomic writes and corrupt input."""

import json

import numpy as np
import pytest

from engine.data import dataset as dataset_module
from engine.data.dataset import FORMAT_VERSION, SequenceDataset, item_text_rows
from engine.data.errors import DataError


def tiny(timestamps=True) -> SequenceDataset:
    item_ids = np.array(["", "10", "20", "30"])
    return SequenceDataset(
        name="tiny", num_items=3, offsets=np.array([0, 2, 5]), items=np.array([1, 2, 3, 1, 2]),
        timestamps=np.array([1, 2, 1, 5, 9]) if timestamps else None,
        user_ids=np.array(["u1", "u2"]), item_ids=item_ids, meta={"options": {"dedup": False}},
        _item_text=item_text_rows(item_ids, {"10": {"title": "Ten"}, "30": {"title": "Thirty", "year": "1990"}}),
    )


def test_accessors():
    d = tiny()
    assert (d.num_users, d.num_items, d.num_interactions) == (2, 3, 5)
    assert d.sequence(1).tolist() == [3, 1, 2]
    assert d.offsets.dtype == np.int64 and d.items.dtype == np.int32 and d.timestamps.dtype == np.int64


def test_item_text_rows_share_keys_and_padding_is_empty():
    rows = tiny().item_text()
    assert rows[0] == {}
    assert rows[1] == {"id": "10", "title": "Ten", "year": ""}
    assert rows[2] == {"id": "20", "title": "", "year": ""}


def test_item_text_rows_match_integer_ids_written_differently():
    rows = item_text_rows(np.array(["", "7"]), {"007": {"title": "Bond"}}, numeric_ids=True)
    assert rows[1] == {"id": "7", "title": "Bond"}


@pytest.mark.parametrize("timestamps", [True, False])
def test_save_load_round_trip(tmp_path, timestamps):
    d = tiny(timestamps)
    d.save(tmp_path / "tiny")
    loaded = SequenceDataset.load(tmp_path / "tiny")
    assert loaded.path == tmp_path / "tiny" and loaded.name == "tiny"
    for key in ("offsets", "items", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(d, key))
        assert getattr(loaded, key).dtype.kind == getattr(d, key).dtype.kind
    if timestamps:
        np.testing.assert_array_equal(loaded.timestamps, d.timestamps)
    else:
        assert loaded.timestamps is None
    assert loaded.item_text() == d.item_text()
    assert loaded.meta["options"] == {"dedup": False} and loaded.meta["format_version"] == FORMAT_VERSION
    assert (loaded.meta["num_users"], loaded.meta["num_items"], loaded.meta["num_interactions"]) == (2, 3, 5)
    assert "created" in loaded.meta


def test_files_on_disk(tmp_path):
    tiny().save(tmp_path / "tiny")
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["items.jsonl", "meta.json", "sequences.npz"]
    with np.load(tmp_path / "tiny" / "sequences.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["item_ids", "items", "offsets", "timestamps", "user_ids"]
        assert npz["user_ids"].dtype.kind == "U" and npz["item_ids"][0] == ""
    lines = (tmp_path / "tiny" / "items.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0]) == {} and json.loads(lines[3])["id"] == "30"


def test_failed_save_leaves_no_directory(tmp_path, monkeypatch):
    def explode(*args):
        raise OSError("disk full")

    monkeypatch.setattr(dataset_module, "_write_items_jsonl", explode)
    with pytest.raises(OSError, match="disk full"):
        tiny().save(tmp_path / "tiny")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp dir


def test_failed_save_keeps_the_previous_directory(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):  # e.g. Ctrl-C while meta.json is written
        raise KeyboardInterrupt

    tiny().save(tmp_path / "tiny")
    monkeypatch.setattr(dataset_module.json, "dump", interrupt)
    with pytest.raises(KeyboardInterrupt):
        tiny(timestamps=False).save(tmp_path / "tiny")
    monkeypatch.undo()
    assert SequenceDataset.load(tmp_path / "tiny").timestamps is not None
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_save_replaces_an_existing_directory(tmp_path):
    tiny().save(tmp_path / "tiny")
    tiny(timestamps=False).save(tmp_path / "tiny")
    assert SequenceDataset.load(tmp_path / "tiny").timestamps is None
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_load_missing_directory(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path / 'nope'}: processed dataset directory not found"):
        SequenceDataset.load(tmp_path / "nope")


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "sequences.npz").write_bytes(b"garbage"), "corrupt processed dataset"),
    (lambda d: (d / "sequences.npz").unlink(), r"sequences\.npz missing"),
    (lambda d: (d / "meta.json").write_text("{"), "corrupt processed dataset"),
    (lambda d: (d / "items.jsonl").unlink(), r"items\.jsonl"),
    (lambda d: (d / "meta.json").write_text(json.dumps({"format_version": 0})), "format version 0"),
    (lambda d: (d / "meta.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "num_users": 9})),
     "counts do not match"),
])
def test_load_corrupt_directory_names_it(tmp_path, damage, message):
    tiny().save(tmp_path / "tiny")
    damage(tmp_path / "tiny")
    with pytest.raises(DataError, match=rf"{tmp_path / 'tiny'}.*{message}"):
        SequenceDataset.load(tmp_path / "tiny")


def test_load_rejects_out_of_range_items(tmp_path):
    tiny().save(tmp_path / "tiny")
    path = tmp_path / "tiny" / "sequences.npz"
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["items"] = np.array([1, 2, 3, 4, 0], np.int32)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=r"items must lie in 1\.\.3"):
        SequenceDataset.load(tmp_path / "tiny")


def test_corrupt_items_jsonl_is_reported_when_read(tmp_path):
    tiny().save(tmp_path / "tiny")
    (tmp_path / "tiny" / "items.jsonl").write_text("{}\n{oops\n")
    loaded = SequenceDataset.load(tmp_path / "tiny")
    with pytest.raises(DataError, match=r"items\.jsonl:2: corrupt item text"):
        loaded.item_text()


def test_inconsistent_arrays_are_rejected():
    with pytest.raises(ValueError, match="offsets"):
        SequenceDataset(name="x", num_items=1, offsets=np.array([0, 3]), items=np.array([1]), timestamps=None,
                        user_ids=np.array(["u"]), item_ids=np.array(["", "a"]), path=None, meta={})
