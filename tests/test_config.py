"""`semisup.config`: defaults, the committed params.yaml, and a ConfigError that names the key for every bad value."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from semisup.config import ConfigError

from semisup.parameters import default_params, load_params, params_from_dict
from semisup.errors import PipelineError

REPO = Path(__file__).resolve().parents[1]


def with_value(dotted: str, value) -> dict:
    """A raw params mapping with one (possibly nested) key set, everything else at its default."""
    raw: dict = {}
    node = raw
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return raw


def config_error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        params_from_dict(raw)
    return str(info.value)


# ------------------------------------------------------------------------------------------------------ good params


def test_defaults_load_and_match_the_dataclasses():
    params = params_from_dict({})
    assert params == default_params()
    assert params.is_synthetic
    assert params.image_size % 8 == 0
    assert params.data.val_size % 2 == 0 and params.labeled.size % 2 == 0


def test_empty_params_file_gives_the_defaults(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("")
    assert load_params(path) == default_params()


def test_committed_params_yaml_loads(monkeypatch):
    monkeypatch.chdir(REPO)  # data.source and labeled.curated_file are relative to the project root
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    params = load_params(REPO / "params.yaml")
    assert params.seed == raw["seed"]
    assert params.image_size == raw["image_size"]
    assert params.data.source == raw["data"]["source"]
    assert params.labeled.size == raw["labeled"]["size"]
    assert params.labeled.strategy == raw["labeled"]["strategy"]


def test_values_are_typed_and_frozen():
    params = params_from_dict({"baseline": {"lr": 1}, "train": {"device": "cpu", "amp": True}, "labeled": {"size": 20}})
    assert params.baseline.lr == 1.0 and isinstance(params.baseline.lr, float)  # an int is a fine float
    assert params.train.device == "cpu" and params.train.amp is True
    assert params.labeled.size == 20
    with pytest.raises(Exception):
        params.seed = 3  # type: ignore[misc]


def test_an_existing_source_path_is_accepted(tmp_path):
    download = tmp_path / "dogs-vs-cats.zip"
    download.write_bytes(b"")
    assert params_from_dict({"data": {"source": str(download)}}).data.source == str(download)


def test_synthetic_sizes_at_the_limit_are_accepted():
    raw = {"data": {"val_size": 100, "test_size": 100, "synthetic": {"per_class": 150}}, "labeled": {"size": 100}}
    assert params_from_dict(raw).data.synthetic.per_class == 150  # 50 + 50 + 50 per class = exactly 150


# ------------------------------------------------------------------------------------------------------- bad params

BAD_VALUES = [
    # (dotted key, bad value)
    ("seed", -1),
    ("image_size", 36),  # not a multiple of 8
    ("image_size", 20),  # below 32
    ("image_size", 2048),  # above 1024
    ("image_size", 0),
    ("data.split_seed", -5),
    ("data.val_size", -2),
    ("data.val_size", 0),
    ("data.val_size", 201),  # odd
    ("data.test_size", -200),
    ("data.test_size", 7),
    ("data.synthetic.per_class", 1),
    ("data.synthetic.per_class", 10**9),  # no upper bound once: prepare would draw for days
    ("data.synthetic.unlabeled", -1),
    ("data.synthetic.unlabeled", 10**9),
    ("data.synthetic.size", 8),
    ("data.synthetic.size", 1024),
    ("labeled.size", 0),
    ("labeled.size", -100),
    ("labeled.size", 99),  # odd: classes are balanced
    ("labeled.strategy", "clever"),
    ("labeled.strategy", "Random"),
    ("labeled.on_missing", "skip"),
    ("loader.eval_batch_size", 0),
    ("loader.num_threads", -1),
    ("baseline.epochs", 0),
    ("baseline.lr", 0),
    ("baseline.lr", -0.1),
    ("baseline.momentum", 1.0),
    ("baseline.momentum", -0.5),
    ("baseline.weight_decay", -1e-4),
    ("baseline.checkpoint_every", 0),
    ("gan.epochs", -1),
    ("gan.lr", 0.0),
    ("gan.beta1", 1.0),
    ("gan.beta2", -0.1),
    ("gan.batch_size", 0),
    ("gan.latent_dim", 0),
    ("gan.generator_width", 4),
    ("gan.grid_every", 0),
    ("gan.max_steps_per_epoch", -1),
    ("gan.checkpoint_every", 0),
    ("train.device", "tpu"),
    ("train.device", "CUDA"),
    ("baseline.eval_every", 0),
    ("gan.generator_loss", "wasserstein"),
    ("gan.passes", "two"),
    ("model.stem", "tiny"),
    ("train.ema", 1.0),
    ("train.ema", -0.5),
    ("train.schedule", "linear"),
    ("train.warmup_steps", -1),
    ("fixmatch.epochs", 0),
    ("fixmatch.steps_per_epoch", 0),
    ("fixmatch.lr", 0.0),
    ("fixmatch.momentum", 1.0),
    ("fixmatch.weight_decay", -1.0),
    ("fixmatch.labeled_batch", 0),
    ("fixmatch.mu", 0),
    ("fixmatch.threshold", 0.0),
    ("fixmatch.threshold", 1.5),
    ("fixmatch.lambda_u", -1.0),
    ("fixmatch.rand_augment_ops", 15),
    ("fixmatch.rand_augment_magnitude", 31),
    ("fixmatch.checkpoint_every", 0),
    # upper bounds: each of these passed validation once and failed later (or aborted with no message)
    ("seed", 2**64),  # torch.manual_seed refuses it
    ("data.split_seed", 2**40),
    ("loader.num_threads", 100000),  # DALI aborted without a word
    ("loader.eval_batch_size", 10**6),
    ("gan.lr", float("inf")),  # failed an epoch later
    ("gan.lr", float("nan")),
    ("gan.lr", 1000.0),
    ("baseline.lr", float("inf")),
    ("fixmatch.lr", 50.0),
    ("train.ema", float("nan")),
    ("fixmatch.lambda_u", float("inf")),
    ("baseline.epochs", 10**9),
    ("gan.batch_size", 10**6),
    ("gan.latent_dim", 10**5),
    ("gan.generator_width", 4096),
    ("data.val_size", 10**8),
    ("labeled.size", 10**8),
]


@pytest.mark.parametrize("key, value", BAD_VALUES, ids=[f"{k}={v!r}" for k, v in BAD_VALUES])
def test_bad_value_names_the_key_and_the_value(key, value):
    message = config_error(with_value(key, value))
    assert message.startswith(f"{key}: "), message
    assert repr(value) in message, message
    assert "use" in message  # says what is allowed


WRONG_TYPES = [
    ("seed", "1"),
    ("seed", 1.5),
    ("seed", True),  # a bool is not an integer here
    ("image_size", 32.0),
    ("image_size", None),
    ("data.val_size", "200"),
    ("data.source", 3),
    ("data.source", None),
    ("labeled.strategy", 1),
    ("labeled.curated_file", ["a.csv"]),
    ("baseline.lr", "fast"),
    ("baseline.lr", True),
    ("baseline.lr", None),
    ("gan.batch_size", [64]),
    ("train.amp", "yes"),
    ("train.amp", 1),
    ("train.deterministic", None),
    ("profile", 5),
    ("train.augment", "yes"),
    ("train.ema", "0.99"),
    ("fixmatch.mu", 2.5),
]


@pytest.mark.parametrize("key, value", WRONG_TYPES, ids=[f"{k}={v!r}" for k, v in WRONG_TYPES])
def test_wrong_type_names_the_key(key, value):
    message = config_error(with_value(key, value))
    assert message.startswith(f"{key}: "), message
    assert repr(value) in message
    assert re.search(r"not an integer|not a number|not a string|not a boolean", message), message


@pytest.mark.parametrize("raw, key", [
    ({"sede": 1}, "sede"),
    ({"data": {"val": 10}}, "data.val"),
    ({"data": {"synthetic": {"per_clas": 10}}}, "data.synthetic.per_clas"),
    ({"labeled": {"strategy": "random", "on_misssing": "stop"}}, "labeled.on_misssing"),
    ({"gan": {"lr_g": 0.1}}, "gan.lr_g"),
])
def test_unknown_key_is_named_with_the_allowed_ones(raw, key):
    message = config_error(raw)
    assert message.startswith(f"{key}: unknown key"), message
    assert "allowed here" in message


def test_unknown_key_lists_the_keys_of_its_own_section():
    message = config_error({"loader": {"threads": 2}})
    assert "eval_batch_size" in message and "num_threads" in message
    assert "baseline" not in message


SECTIONS_NOT_MAPPINGS = [("data", 5), ("labeled", "random"), ("gan", [1, 2]), ("train", None), ("data.synthetic", 5)]


@pytest.mark.parametrize("key, value", SECTIONS_NOT_MAPPINGS)
def test_a_section_that_is_not_a_mapping_is_named(key, value):
    message = config_error(with_value(key, value))
    assert message.startswith(key) and "expected a mapping" in message and repr(value) in message, message


@pytest.mark.parametrize("key, value", SECTIONS_NOT_MAPPINGS)
def test_a_section_that_is_not_a_mapping_is_named_without_a_trailing_dot(key, value):
    message = config_error(with_value(key, value))
    assert message.startswith(f"{key}: expected a mapping"), message


def test_top_level_that_is_not_a_mapping():
    with pytest.raises(ConfigError, match="expected a mapping"):
        params_from_dict([1, 2])  # type: ignore[arg-type]


def test_missing_source_gives_the_kaggle_download_command(tmp_path):
    missing = tmp_path / "raw" / "dogs-vs-cats.zip"
    message = config_error({"data": {"source": str(missing)}})
    assert message.startswith("data.source: "), message
    assert str(missing) in message
    assert "kaggle competitions download -c dogs-vs-cats -p data/raw" in message
    assert "synthetic" in message


@pytest.mark.parametrize("val, test, labelled, per_class", [
    (200, 200, 100, 100),  # 250 per class needed, 100 there
    (100, 100, 100, 149),  # one short
    (2, 2, 2, 2),  # 3 per class needed, 2 there
])
def test_sizes_larger_than_the_synthetic_data_are_refused(val, test, labelled, per_class):
    raw = {"data": {"val_size": val, "test_size": test, "synthetic": {"per_class": per_class}}, "labeled": {"size": labelled}}
    message = config_error(raw)
    assert message.startswith("data.val_size + data.test_size + labeled.size: "), message
    assert "data.synthetic.per_class" in message and str(2 * per_class) in message


def test_sizes_larger_than_the_synthetic_data_are_fine_for_a_real_source(tmp_path):
    """The check applies to the stand-in data only: a real download is counted by `prepare`."""
    source = tmp_path / "train.zip"
    source.write_bytes(b"")
    raw = {"data": {"source": str(source), "val_size": 2000, "test_size": 2000, "synthetic": {"per_class": 10}}}
    assert params_from_dict(raw).data.val_size == 2000


def test_config_error_is_a_pipeline_error():
    """Stages print PipelineError as one line (semisup.cli.run_stage): config errors must be caught the same way."""
    assert issubclass(ConfigError, PipelineError)


def test_load_params_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such params file"):
        load_params(tmp_path / "params.yaml")


def test_load_params_invalid_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


def test_a_key_given_twice_is_refused_not_the_last_kept(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\nimage_size: 32\nseed: 7\n")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: line 3: key 'seed' is given twice (first on line 1); keep one"
    path.write_text("data:\n  val_size: 200\n  val_size: 400\n")
    with pytest.raises(ConfigError, match=r"line 3: key 'val_size' is given twice \(first on line 2\)"):
        load_params(path)


def test_a_params_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"seed: 0\nprofile: d\xffmo\n")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 0xff at offset 18); save it as UTF-8"


def test_load_params_from_file_reports_bad_value(tmp_path):
    path = tmp_path / "params.yaml"
    raw = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    raw["data"]["source"] = "synthetic"
    raw["image_size"] = 100
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"^image_size: 100 is not allowed; use a multiple of 8"):
        load_params(path)


def test_small_stem_is_refused_above_64_px():
    message = config_error({"image_size": 96, "model": {"stem": "small"}})
    assert message.startswith("model.stem: 'small'") and "image_size <= 64" in message
    assert params_from_dict({"image_size": 64, "model": {"stem": "small"}}).model.stem == "small"
