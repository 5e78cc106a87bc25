"""The model file: written in one step, read as weights and plain values only (a crafted file never runs)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from semisup.artifacts import load_model, save_model
from semisup.config import params_from_dict
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
