"""The downloader against zips made here and served from file:// URLs (no network needed)."""

import hashlib
import urllib.request
import zipfile

import pytest

from engine.data import download
from engine.data.download import download_and_extract
from engine.data.errors import DataError


@pytest.fixture
def archive(tmp_path):
    """A zip holding one top-level folder, like GroupLens' ml-1m.zip; returns (file:// url, sha256)."""
    path = tmp_path / "toy.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("toy/ratings.dat", "1::2::3::4\n")
        zf.writestr("toy/README", "hello\n")
    return path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_verifies_and_extracts(tmp_path, archive):
    url, sha = archive
    dest = download_and_extract(url, tmp_path / "data" / "toy", sha, progress=False)
    assert dest == tmp_path / "data" / "toy"
    assert (dest / "ratings.dat").read_text() == "1::2::3::4\n" and (dest / "README").is_file()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["toy"]  # no temp files left


def test_second_call_skips_the_download(tmp_path, archive, monkeypatch):
    url, sha = archive
    download_and_extract(url, tmp_path / "toy", sha, progress=False)

    def offline(*args, **kwargs):
        raise AssertionError("should not download again")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert download_and_extract(url, tmp_path / "toy", sha.upper(), progress=False) == tmp_path / "toy"


def test_bad_hash_is_reported_and_nothing_is_kept(tmp_path, archive):
    url, sha = archive
    wrong = "0" * 64
    with pytest.raises(DataError, match=rf"{url}: sha256 mismatch: expected {wrong}, got {sha}"):
        download_and_extract(url, tmp_path / "out" / "toy", wrong, progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_progress_bar(tmp_path, archive, capsys):
    url, sha = archive
    download_and_extract(url, tmp_path / "toy", sha, progress=True)
    assert "toy.zip" in capsys.readouterr().err


def test_zip_without_a_single_top_folder_extracts_as_is(tmp_path):
    path = tmp_path / "flat.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "a")
        zf.writestr("b/c.txt", "c")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    dest = download_and_extract(path.as_uri(), tmp_path / "flat", sha, progress=False)
    assert (dest / "a.txt").read_text() == "a" and (dest / "b" / "c.txt").read_text() == "c"


def test_not_a_zip(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"not a zip")
    sha = hashlib.sha256(b"not a zip").hexdigest()
    with pytest.raises(DataError, match=r"not a valid zip archive"):
        download_and_extract(path.as_uri(), tmp_path / "fake", sha, progress=False)
    assert not (tmp_path / "fake").exists()


def test_unreachable_url(tmp_path):
    url = (tmp_path / "absent.zip").as_uri()
    with pytest.raises(DataError, match=rf"{url}: download failed"):
        download_and_extract(url, tmp_path / "x", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_foreign_directory_is_not_overwritten(tmp_path, archive):
    url, sha = archive
    (tmp_path / "toy").mkdir()
    with pytest.raises(DataError, match=r"already exists but was not extracted from"):
        download_and_extract(url, tmp_path / "toy", sha, progress=False)


def test_grouplens_table():
    assert set(download.GROUPLENS) == {"ml-1m", "ml-100k"}
    for name, archive in download.GROUPLENS.items():
        assert archive.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert len(archive.sha256) == 64
    with pytest.raises(DataError, match=r"unknown GroupLens archive 'ml-20m'"):
        download.download_grouplens("ml-20m", "/nonexistent")
