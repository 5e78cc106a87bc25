"""params.yaml is what `dvc exp run` composes from conf/ (DVC's Hydra support), and every profile validates."""
from pathlib import Path

import pytest
import yaml

from semisup.parameters import load_params, params_from_dict
from semisup.params import compose

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted(p.stem for p in (ROOT / "conf" / "profile").glob("*.yaml"))


def test_committed_params_are_exactly_the_composed_defaults(tmp_path):
    compose(tmp_path / "params.yaml", ROOT / "conf", [])
    assert (ROOT / "params.yaml").read_text() == (tmp_path / "params.yaml").read_text(), \
        "params.yaml is stale: run `semisup params` and commit it"
    assert load_params(ROOT / "params.yaml").profile == "demo"


def test_the_parameter_reference_is_what_conf_says():
    """docs/parameters.md is generated from conf/ (`semisup params --reference`): a default, a profile's value or a
    comment changed in conf/ without regenerating it fails here, so the reference cannot drift from the config."""
    from semisup.params_reference import reference

    assert (ROOT / "docs" / "parameters.md").read_text() == reference(ROOT / "conf"), \
        "docs/parameters.md is stale: run `semisup params --reference` and commit it"


def test_the_reference_has_every_key_with_its_comment_and_each_profiles_value():
    from semisup.params_reference import config_comments, reference

    text = reference(ROOT / "conf")
    keys, sections = config_comments(ROOT / "conf" / "config.yaml")
    assert keys["baseline.lr"] == "SGD" and sections["pretrain"].startswith("SimCLR")
    assert "| `baseline.lr` | `0.001` | `0.01` |" in text  # the demo's value beside the default (the old table: 0.001)
    assert all(f"`{key}`" in text for key in keys) and "**`study_paper`**" in text


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_composes_and_validates(tmp_path, profile):
    compose(tmp_path / "params.yaml", ROOT / "conf", [f"profile={profile}"])
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    if raw["data"]["source"] != "synthetic":  # the paper profile names a download that need not exist here
        raw["data"]["source"] = str(ROOT)
    assert params_from_dict(raw).profile == profile


def test_paper_profile_is_the_published_recipe(tmp_path):
    compose(tmp_path / "params.yaml", ROOT / "conf", ["profile=paper"])
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert raw["image_size"] == 224 and raw["data"]["val_size"] == 1000 and raw["data"]["test_size"] == 1000
    assert raw["labeled"] == {**raw["labeled"], "size": 100, "strategy": "curated"}
    assert raw["baseline"] == {**raw["baseline"], "epochs": 200, "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0001}
    assert raw["gan"] == {**raw["gan"], "epochs": 100, "lr": 0.002, "beta1": 0.5, "beta2": 0.999, "batch_size": 64}
    assert raw["train"]["amp"] is False


def test_paper_profile_leaves_every_change_off_and_improved_turns_them_on(tmp_path):
    def composed(profile):
        compose(tmp_path / "params.yaml", ROOT / "conf", [f"profile={profile}"])
        return yaml.safe_load((tmp_path / "params.yaml").read_text())

    paper, improved = composed("paper"), composed("improved")
    assert paper["train"] == {**paper["train"], "augment": False, "ema": 0.0, "schedule": "constant", "warmup_steps": 0}
    assert paper["model"]["stem"] == "imagenet"
    assert paper["gan"]["generator_loss"] == "standard" and paper["gan"]["passes"] == "separate"
    assert improved["train"]["augment"] is True and improved["train"]["ema"] > 0
    assert improved["train"]["schedule"] == "cosine" and improved["gan"]["generator_loss"] == "feature_matching"
    assert improved["data"]["source"] == "synthetic"  # a recipe, not a data set: `-S data.source=...` picks the data


@pytest.mark.parametrize("overrides", [[], ["profile=paper", "seed=3"], ["profile=study", "labeled.strategy=curated"]])
def test_hydra_public_compose_writes_what_dvc_writes(tmp_path, overrides):
    """`dvc exp run -S` rewrites params.yaml with DVC's own helper: ours must give the same bytes."""
    from dvc.utils.hydra import compose_and_dump

    compose(tmp_path / "ours.yaml", ROOT / "conf", overrides)
    conf = str((ROOT / "conf").resolve())
    compose_and_dump(tmp_path / "dvc.yaml", conf, None, "config", str(ROOT / ".dvc" / "plugins"), overrides)
    assert (tmp_path / "ours.yaml").read_text() == (tmp_path / "dvc.yaml").read_text()


def test_a_bad_override_is_one_line(tmp_path):
    from semisup.errors import ConfigError

    with pytest.raises(ConfigError, match=r"conf: cannot compose params \(profile=nope\): "):
        compose(tmp_path / "params.yaml", ROOT / "conf", ["profile=nope"])
    with pytest.raises(ConfigError, match=r"labeled.size: -5 is not allowed"):  # validated before it is written
        compose(tmp_path / "params.yaml", ROOT / "conf", ["labeled.size=-5"])
    assert not (tmp_path / "params.yaml").exists()


def test_the_study_paper_profile_is_the_published_recipe_on_the_study_data(tmp_path):
    def composed(profile):
        compose(tmp_path / "params.yaml", ROOT / "conf", [f"profile={profile}"])
        return yaml.safe_load((tmp_path / "params.yaml").read_text())

    faithful, study, defaults = composed("study_paper"), composed("study"), composed("paper")
    assert faithful["train"] == defaults["train"]  # no augmentation, EMA, schedule or recalibration
    assert {k: faithful["gan"][k] for k in ("lr", "generator_loss", "passes")} == \
        {k: defaults["gan"][k] for k in ("lr", "generator_loss", "passes")}
    assert faithful["baseline"]["lr"] == defaults["baseline"]["lr"] == 0.001
    assert {k: faithful[k] for k in ("image_size", "data", "labeled")} == {k: study[k] for k in ("image_size", "data", "labeled")}
    assert faithful["gan"]["epochs"] * faithful["gan"]["max_steps_per_epoch"] == faithful["baseline"]["epochs"] == 200
