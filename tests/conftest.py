import pytest

from configs.sasrec import get_config


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets"))


@pytest.fixture
def tiny_config(data_cache):
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    return config
