"""The article plan without a GPU: its calls fit the lending rules with the 128-px set carried, its exact commands run
here with a tiny budget (the rehearsal CI runs: resumed across calls, results in $OUT after each), a run split
between calls equals the whole run, and the deadline arithmetic."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from semisup.parameters import params_from_dict
from semisup.errors import PipelineError
from semisup.tools import article, lease
from semisup.tools.articlerun import Clock, run_key, with_epochs
from semisup.tools.carry import check_calls, device_seconds
from semisup.tools.rehearsal import rehearse_article

ROOT = Path(__file__).resolve().parents[2]
SET_128 = ROOT.parent / "shared" / "data" / "dogs-vs-cats-128px.zip"
SET_128_BYTES = 161_008_875  # its size, for a stand-in of the same size where the set is absent


@pytest.fixture(scope="module")
def full_plan(tmp_path_factory: pytest.TempPathFactory):
    """The real plan, its parts built outside the repository (from the 128-px set, or a file of its size)."""
    tmp = tmp_path_factory.mktemp("article")
    source = SET_128
    if not source.is_file():
        source = tmp / SET_128.name
        with source.open("wb") as f:
            f.truncate(SET_128_BYTES)
    return (*article.build(ROOT, source, parts_root=tmp / "parts"), tmp / "parts")


def test_the_plans_calls_fit_the_lease_with_the_128px_set_carried(full_plan) -> None:
    calls, sizes, plan, parts = full_plan
    assert [c.carry for c in calls] == [[f"{article.OUT_DIR}/p{k}"] for k in (1, 2, 3)] + [[]]
    pieces = sorted(f for p in (parts / article.OUT_DIR).glob("p*") for f in p.iterdir() if ".part." in f.name)
    assert sum(f.stat().st_size for f in pieces) == SET_128_BYTES and len(pieces) == 3  # the whole set, in 3 calls
    assert all(size <= lease.CALL_LIMIT for size in sizes.values()) and len(sizes) == 5
    assert all(c.timeout_s <= lease.CALL_S and len(c.command) <= lease.COMMAND_CHARS for c in calls)
    expected, bound = device_seconds(calls)
    assert expected <= bound <= lease.LEASE_S  # the start, transfers and gaps counted; training calls at their limit
    assert plan["overrides"]["gan"]["unsupervised_weight"] == 0.5 and plan["profile"] == "paper"
    assert plan["overrides"]["image_size"] == 128 and plan["overrides"]["data"] == {"val_size": 1000,
                                                                                    "test_size": 1000}
    assert [j["strategy"] for j in plan["jobs"]] == ["curated", "random"]
    e = plan["expected"]
    assert 1 <= e["gan_epochs"] <= article.PUBLISHED_EPOCHS and sum(e["epochs_by_call"]) == e["gan_epochs"]
    assert e["steps_per_epoch"] == 27_857 // 64
    for call, deadline in plan["deadlines"].items():  # each training call stops inside its timeout
        assert deadline == calls[int(call) - 1].timeout_s - article.MARGIN_S > 0
    text = article.describe(calls, sizes, plan)
    assert f"Expected device time: {expected / 60:.1f} min" in text and f"{e['gan_epochs']} of the published" in text


def test_a_plan_over_a_limit_is_one_line(full_plan, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = full_plan[0]
    monkeypatch.setattr(lease, "CALL_LIMIT", 50 * lease.MIB)
    with pytest.raises(PipelineError, match=r"^carry part 1/3 .* MiB would travel .*a device call takes$"):
        check_calls(ROOT, calls, full_plan[3])
    with pytest.raises(PipelineError, match="is not a file; the article plan carries the 128-px set"):
        article.build(ROOT, tmp_path / "absent.zip", parts_root=tmp_path)


def test_rehearsal_runs_the_plans_commands_here_and_resumes_across_calls(full_plan, tmp_path: Path) -> None:
    calls, results, plan = rehearse_article(ROOT, tmp_path)
    work = str(tmp_path / "root-w")
    assert [c.command for c in calls] == [c.command.replace(lease.WORK, work) for c in full_plan[0]]
    assert [r["returncode"] for r in results] == [0, 0, 0, 0], results[-1]["output"]
    assert [r["refused"] for r in results] == [[]] * 4
    assert results[0]["files"] == results[1]["files"] == []
    for r in results[2:]:
        assert {"article.json", "article.log", "gpu.txt", "grid-curated.png"} <= set(r["files"])
        assert len(r["files"]) <= lease.RETURN_FILES
    after3 = json.loads((results[2]["out"] / "article.json").read_text())["jobs"]
    assert after3["curated"]["baseline"]["test"]["count"] == 10
    assert after3["curated"]["gan"]["rounds"] == 1 and "test" not in after3["curated"]["gan"]
    after4 = json.loads((results[3]["out"] / "article.json").read_text())
    gan = after4["jobs"]["curated"]["gan"]
    assert gan["rounds"] == gan["planned"] == 2 and gan["test"]["count"] == 10
    assert [c["call"] for c in gan["chunks"]] == [3, 4] and gan["steps"] == 2  # resumed from call 3's checkpoint
    assert "resuming gan at round 2" in (results[3]["out"] / "article.log").read_text()
    assert after4["jobs"]["random-0"]["baseline"]["test"]["count"] == 10
    assert after4["jobs"]["random-0"]["gan"]["rounds"] == 0  # no time was left to start it
    assert [c["call"] for c in after4["calls"]] == [3, 4]


def _gan(epochs: int, ckpt_dir: Path):
    from semisup.training.contract import Unlabeled, LabeledData
    from semisup.methods.sgan import SemiSupervisedGan
    from semisup.training.execution import Execution
    from semisup.training.loop import fit
    from semisup.training.checkpoint import Checkpoint

    params = params_from_dict({"image_size": 32, "gan": {"batch_size": 4, "generator_width": 8, "epochs": 2}})
    params = with_epochs(params, "gan", epochs)
    g = torch.Generator().manual_seed(0)
    x_l, y_l = torch.rand(4, 3, 32, 32, generator=g), torch.tensor([0, 1] * 2)
    x_u = torch.rand(4, 3, 32, 32, generator=g)

    def batches(r: int):  # one batch per round, drawn in a round's own order
        return iter([x_u[torch.randperm(4, generator=torch.Generator().manual_seed(r))]])

    exe = Execution.from_config(params.train, torch.device("cpu"))
    data = LabeledData(x_l, y_l, x_l, y_l)
    gan = SemiSupervisedGan(params, exe, data, Unlabeled(batches, 1))
    result = fit(gan, data, params, exe, Checkpoint(ckpt_dir / "gan.pt", run_key(params, "gan", "t")), None)
    return result, gan


def test_a_run_split_between_calls_equals_the_whole_run(tmp_path: Path) -> None:
    """The published schedule is constant: 1 epoch, then a resumed second, is the 2-epoch run, bit for bit on the
    CPU (weights, both optimisers, the generator's noise, the curves)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole, whole_gan = _gan(2, tmp_path / "whole")
        _gan(1, tmp_path / "split")
        split, split_gan = _gan(2, tmp_path / "split")
    finally:
        torch.set_num_threads(threads)
    assert whole.history == split.history and whole.steps == split.steps == 2
    for a, b in zip(whole_gan.state_dict()["classifier"].values(), split_gan.state_dict()["classifier"].values()):
        assert torch.equal(a, b)
    assert torch.equal(whole_gan.noise.get_state(), split_gan.noise.get_state())
    with pytest.raises(PipelineError, match="train.schedule=constant"):
        with_epochs(params_from_dict({"train": {"schedule": "cosine"}}), "gan", 1)


def test_the_clock_fits_whole_rounds_before_the_deadline() -> None:
    clock = Clock(100.0, adaptive=False)
    clock.charge(30.0)
    assert clock.rounds(20.0, setup_s=10.0, reserve_s=5.0) == 2  # 100 - 30 - 10 - 5 = 55: two rounds of 20
    assert clock.fits(70.0) and not clock.fits(70.5)
    assert clock.rounds(0.0, 0.0, 0.0) == 0 and Clock(1.0, False).rounds(5.0, 0.0, 0.0) == 0
    real = Clock(1e6, adaptive=True)
    real.charge(1e9)  # the real clock ignores budgeted charges
    assert real.spent < 60 and real.rounds(1e5, 0.0, 0.0) == 9


def test_the_split_rounds_key_ignores_only_the_epochs() -> None:
    p = params_from_dict({"image_size": 32})
    assert run_key(with_epochs(p, "gan", 3), "gan", "curated") == run_key(p, "gan", "curated")
    assert run_key(p, "gan", "curated") != run_key(p, "gan", "random-0")
    assert run_key(replace(p, seed=1), "gan", "curated") != run_key(p, "gan", "curated")


def test_article_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from semisup.__main__ import main

    for argv in (["gpu-check", "article", str(tmp_path / "absent.json"), "--call", "3", "--out", str(tmp_path)],
                 ["gpu-check", "article", "--call", "3"],
                 ["gpu-check", "plan", "--plan", "article", "--source", str(tmp_path / "absent.zip")],
                 ["gpu-check", "dry-run", "--plan", "article", "--out", __file__]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
    assert not os.listdir(tmp_path)


def test_a_rehearsed_call_ends_at_its_timeout_with_what_it_started(tmp_path: Path) -> None:
    """As on the device: at its timeout a command ends with its children, even one still holding the output."""
    import time

    from semisup.tools.carry import Call
    from semisup.tools.rehearsal import run_call

    began = time.perf_counter()
    code, output = run_call(Call("hangs", [], "echo started; sleep 30 & sleep 30", 1, 1), tmp_path, dict(os.environ))
    assert code == 124 and output.startswith("started") and "stopped at its timeout, 1 s" in output
    assert time.perf_counter() - began < 10
