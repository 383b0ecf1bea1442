"""A backbone trained on other data, split or instances is refused with the keys that differ."""

import json

import pytest

from configs.llm4rsr import get_config
from llm.stages.llm4rsr.confidence import backbone_config, check_backbone


def test_backbone_of_other_data_or_instances_is_refused(tmp_path):
    config = get_config("ml-100k-cpu")
    saved = backbone_config(config, "/x/instances.npz", 0)
    (tmp_path / "config.json").write_text(saved.to_json())
    check_backbone(config, tmp_path, "/x/instances.npz")  # the same: accepted
    with pytest.raises(ValueError, match="differing keys: instances_path"):
        check_backbone(config, tmp_path, "/y/instances.npz")
    other = json.loads(saved.to_json())
    other["data"]["name"], other["split"]["protocol"] = "beauty", "temporal_sessions"
    (tmp_path / "config.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match=r"config.json: .*differing keys: name, protocol"):
        check_backbone(config, tmp_path, "/x/instances.npz")


def test_backbone_config_is_the_instance_mode_of_the_named_model():
    config = get_config("ml-100k-cpu")
    b = backbone_config(config, "/x/t.npz", 2)
    assert b.model.name == "sasrec" and b.model.max_len == 5 and tuple(b.train.length_buckets) == (5,)
    assert b.data.instances_path == "/x/t.npz" and b.seed == 2 and b.data.item_core == 50
    assert b.train.max_steps == 5000 and b.train.batch_size == 128  # backbone.overrides
    config.backbone.config = "configs/bert4rec.py:tiny"
    with pytest.raises(ValueError, match="cannot train on an instance table"):
        backbone_config(config, "/x/t.npz", 0)
