"""engine.text.pieces: saved pieces are reloaded only for the same cut, damaged ones are recomputed, and a
store that never saved anything leaves no directory."""

import numpy as np

from engine.text.pieces import PieceStore

CUT = {"encoder": "minilm", "rows": 5, "batch_size": 2, "piece_rows": 2}


def test_pieces_reload_only_under_the_same_cut(tmp_path):
    directory = tmp_path / "x.partial"
    store = PieceStore(directory, CUT)
    assert not directory.exists() and store.load(0, 2) is None  # nothing saved yet: nothing on disk
    store.save(0, np.ones((2, 3), np.float32))
    store.save(2, np.full((1, 3), 2, np.float32))
    again = PieceStore(directory, dict(CUT))
    np.testing.assert_array_equal(again.load(0, 2), np.ones((2, 3)))
    assert again.load(1, 2) is None and again.load(2, 2) is None  # not saved; wrong row count
    np.testing.assert_array_equal(again.load(2, 1), [[2, 2, 2]])

    (directory / "piece-000000.npy").write_bytes(b"half a file")  # e.g. copied by hand, then cut short
    assert PieceStore(directory, CUT).load(0, 2) is None

    PieceStore(directory, {**CUT, "batch_size": 4})  # another cut: the old pieces do not line up
    assert not directory.exists()


def test_pieces_without_a_manifest_are_not_trusted(tmp_path):
    directory = tmp_path / "y.partial"
    directory.mkdir()
    np.save(directory / "piece-000000.npy", np.ones((2, 3), np.float32))
    assert PieceStore(directory, CUT).load(0, 2) is None and not directory.exists()
