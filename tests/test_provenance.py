"""One source of what a run was: the model file stores `provenance(params, method)` and everything that reports a
run (evaluate's provenance file, the study's result files) reads those same facts back from it."""
from __future__ import annotations

from dataclasses import asdict

import torch

from semisup.artifacts import load_model, save_model
from semisup.parameters import default_params, params_from_dict
from semisup.models import Classifier
from semisup.provenance import KEYS, model_provenance, provenance, recipe_label

PARAMS = params_from_dict({"profile": "study", "seed": 3, "image_size": 48, "labeled": {"size": 40},
                           "train": {"augment": True}, "simclr": {"lr": 0.01}})


def test_provenance_names_every_fact_a_figure_needs():
    facts = provenance(PARAMS, "simclr")
    assert tuple(facts) == KEYS
    assert facts == {"profile": "study", "data_source": "synthetic", "image_size": 48, "strategy": "random",
                     "labeled": 40, "seed": 3, "recipe": "augment, lr=0.01"}
    assert provenance(PARAMS, "baseline")["recipe"] == "augment"  # simclr's lr is not the baseline's recipe


def test_the_model_file_gives_back_the_same_facts(tmp_path):
    torch.manual_seed(0)
    save_model(tmp_path / "simclr.pt", "simclr", PARAMS, {"best_epoch": 1, "val_accuracy": 0.5},
               Classifier().state_dict())
    _, meta = load_model(tmp_path / "simclr.pt", torch.device("cpu"))
    assert model_provenance(meta, default_params()) == provenance(PARAMS, "simclr")
    assert meta["image_size"] == 48 and meta["data_source"] == "synthetic"  # what predict and evaluate read


def test_a_model_file_from_before_labeled_and_recipe_were_stored_still_reads():
    old = {"method": "gan", "profile": "demo", "data_source": "synthetic", "image_size": 32, "strategy": "curated",
           "seed": 1, "params": {**asdict(PARAMS), "profile": "demo"}}
    facts = model_provenance(old, default_params())
    assert facts["labeled"] == 40 and facts["recipe"] == recipe_label(asdict(PARAMS), "gan", default_params().gan) == "augment"
    assert (facts["strategy"], facts["seed"], facts["profile"]) == ("curated", 1, "demo")
