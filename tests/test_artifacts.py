"""The model file: written in one step, read as weights and plain values only (a crafted file never runs)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from semisup.artifacts import load_model, save_model
from semisup.parameters import params_from_dict
from semisup.errors import PipelineError
from semisup.models import Classifier

CPU = torch.device("cpu")


class Planted:
    """Unpickling this creates a file: what a crafted `.pt` fetched from someone else's registry could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def save(path: Path) -> dict:
    torch.manual_seed(0)
    state = Classifier().state_dict()
    save_model(path, "gan", params_from_dict({"image_size": 32}), {"best_epoch": 2, "val_accuracy": 0.5}, state)
    return state


def test_a_saved_model_loads_with_weights_only(tmp_path: Path) -> None:
    state = save(tmp_path / "gan.pt")
    model, meta = load_model(tmp_path / "gan.pt", CPU)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert meta["method"] == "gan" and meta["image_size"] == 32 and meta["params"]["image_size"] == 32
    assert [p.name for p in tmp_path.iterdir()] == ["gan.pt"]  # no temporary left beside it


def test_a_crafted_model_file_is_refused_before_it_can_run(tmp_path: Path) -> None:
    marker = tmp_path / "it-ran"
    torch.save({"format": "semisup-classifier/1", "classes": ["cat", "dog"], "payload": Planted(marker)},
               tmp_path / "gan.pt")
    with pytest.raises(PipelineError, match=r"gan.pt: refused: it holds objects other than weights and plain "
                                            r"values \(loading it could run code\)"):
        load_model(tmp_path / "gan.pt", CPU)
    assert not marker.exists()


def test_saving_over_a_hard_link_leaves_the_linked_copy_alone(tmp_path: Path) -> None:
    """With DVC's `cache.type` hardlink, models/gan.pt is the cache's file: a new model must not overwrite it."""
    cached = tmp_path / "cache" / "md5"
    cached.parent.mkdir()
    save(cached)
    before = cached.read_bytes()
    os.link(cached, tmp_path / "gan.pt")
    torch.manual_seed(1)
    save_model(tmp_path / "gan.pt", "gan", params_from_dict({"image_size": 32}), {}, Classifier().state_dict())
    assert cached.read_bytes() == before and (tmp_path / "gan.pt").read_bytes() != before


def test_a_crafted_file_calling_a_blocked_module_is_refused_as_code(tmp_path: Path) -> None:
    """This torch words it "unsupported GLOBAL posix.system whose module posix is blocked", not "Unsupported global:"."""
    torch.save({"format": "semisup-classifier/1", "payload": os.system}, tmp_path / "gan.pt")
    with pytest.raises(PipelineError, match=r"gan.pt: refused: it holds objects other than weights"):
        load_model(tmp_path / "gan.pt", CPU)


def tampered(path: Path, **changes) -> Path:
    """A model file written by this project, then one key changed (None: removed), as a hostile file would be."""
    save(path)
    blob = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is NAN_WEIGHTS:
            value = dict(blob[key])
            last = list(value)[-2]
            value[last] = torch.full_like(value[last], float("nan"))
        if value is None:
            blob.pop(key)
        else:
            blob[key] = value
    torch.save(blob, path)
    return path


NAN_WEIGHTS = "nan weights"  # built by `tampered`: a state_dict whose last layer is NaN


@pytest.mark.parametrize(("changes", "expected"), [
    ({"classes": None}, "classes: missing; use a list"),
    ({"classes": 5}, "classes: 5 is not a list"),
    ({"classes": "cd"}, "classes: 'cd' is not a list"),
    ({"classes": ["cat"]}, "classes: ['cat'] is not allowed; use a list of two or more different names"),
    ({"classes": ["cat", "cat"]}, "classes: ['cat', 'cat'] is not allowed; use a list of two or more different names"),
    ({"value_range": ["a", "b"]}, "value_range[0]: 'a' is not a number"),
    ({"value_range": [0.0, 255.0]}, "value_range: [0.0, 255.0] is not allowed; use [0.0, 1.0]"),
    ({"classifier": None}, "classifier: missing; use a mapping"),
    ({"classifier": "weights"}, "classifier: 'weights' is not a mapping"),
    ({"image_size": 0}, "image_size: 0 is not allowed; use the side the model was trained at, from 8 to 1024 px"),
    ({"image_size": 10**5}, "image_size: 100000 is not allowed; use the side the model was trained at"),
    ({"image_size": 10**9}, "image_size: 1000000000 is not allowed; use the side the model was trained at"),
    ({"image_size": "32"}, "image_size: '32' is not an integer"),
    ({"stem": "huge"}, "stem: 'huge' is not allowed; use one of imagenet, small"),
    ({"classifier": NAN_WEIGHTS}, "classifier: net.fc.weight holds NaN or infinite values; a model that diverged "
                                    "predicts nothing: re-train it"),
])
def test_wrong_metadata_is_one_line_naming_the_file_and_key(tmp_path: Path, changes, expected) -> None:
    path = tampered(tmp_path / "gan.pt", **changes)
    with pytest.raises(PipelineError) as info:
        load_model(path, CPU)
    assert str(info.value).startswith(f"{path}: {expected}") and "\n" not in str(info.value)
