"""The GPU check without a GPU: parts that fit a device call, calls under the limits, Hydra-free composition equal
to Hydra's, the report rebuilt from committed results, and the whole run on the CPU as the device would run it
(DALI, DVC, DVCLive and Hydra made unimportable)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semisup.parameters import load_params
from semisup.errors import PipelineError
from semisup.tools import carry, gpucheck, gpureport, lease, recipes

ROOT = Path(__file__).resolve().parents[2]
RESULTS = sorted((ROOT / "metrics" / "gpu").glob("*/*.json"))
MINI = ROOT.parent / "shared" / "data" / "dogs-vs-cats-mini.zip"


def test_pack_splits_large_files_and_every_part_fits(tmp_path: Path) -> None:
    sizes = {"big.whl": 250, "mid.whl": 60, "small.whl": 30, "tiny.whl": 20}
    files = []
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(bytes((i * 7 + len(name)) % 256 for i in range(size)))
        files.append(tmp_path / name)
    parts = carry.pack(files, tmp_path / "out", "p", part_limit=100)
    assert [p.name for p in parts] == [f"p{k}" for k in range(1, len(parts) + 1)]
    for part in parts:
        assert sum(f.stat().st_size for f in part.iterdir()) <= 100
    joined = tmp_path / "joined"
    joined.mkdir()
    for part in parts:
        for f in part.iterdir():
            (joined / f.name).write_bytes(f.read_bytes())
    assert len(list(joined.glob("big.whl.part.*"))) == 3  # 250 bytes in pieces of 100
    subprocess.run(["bash", "-c", carry.rejoin_command(str(joined))], check=True)
    assert sorted(f.name for f in joined.iterdir()) == sorted(sizes)
    for f in files:
        assert (joined / f.name).read_bytes() == f.read_bytes()
    assert len(parts) == 4  # 250 + 60 + 30 + 20 bytes cannot share fewer parts of 100 once split as 100/100/50


def test_plan_writes_the_main_call_and_refuses_one_over_the_limit(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "photos.zip"
    source.write_bytes(b"x" * 1000)
    calls, sizes = gpucheck.plan_calls(ROOT, source, dali=False)
    assert len(calls) == 1 and calls[0].carry == [".gpucheck/main"]
    assert (ROOT / ".gpucheck" / "main" / gpucheck.MINI.name).stat().st_size == 1000
    assert "gpu-check run" in calls[0].command and len(calls[0].command) <= 2000
    assert json.loads((ROOT / ".gpucheck" / "calls.json").read_text())[0]["carry"] == [".gpucheck/main"]
    assert sizes["working_tree"] < lease.CALL_LIMIT
    monkeypatch.setattr(lease, "CALL_LIMIT", sizes["working_tree"] + 500)
    with pytest.raises(PipelineError, match=r"^main: .* MiB would travel \(working tree .*a device call takes$"):
        gpucheck.plan_calls(ROOT, source, dali=False)
    with pytest.raises(PipelineError, match="is not a file"):
        gpucheck.plan_calls(ROOT, tmp_path / "missing.zip", dali=False)


@pytest.mark.slow
def test_plan_carries_dali_in_parts_that_each_fit_one_call(tmp_path: Path) -> None:
    source = tmp_path / "photos.zip"
    source.write_bytes(b"x" * 1000)
    calls, sizes = gpucheck.plan_calls(ROOT, source, dali=True)
    parts = sorted((ROOT / ".gpucheck").glob("dali*"))
    names = {f.name.split(".part.")[0] for p in parts for f in p.iterdir()}
    assert any(n.startswith("nvidia_dali_cuda130-2.4.0") for n in names)
    assert not any(n.split("-")[0] in ("torch", "numpy", "torchvision") for n in names)  # the device has those
    assert len(calls) == 1 + len(parts) and all(size <= lease.CALL_LIMIT for size in sizes.values())
    assert "--dali-only" in calls[-1].command and "pip install" in calls[-1].command
    assert all("--dali-only" not in c.command for c in calls[1:-1])


def test_profile_composition_equals_hydras_params_yaml() -> None:
    """params.yaml is Hydra's composition of conf/ with the default profile; the device has no Hydra."""
    composed = recipes.profile_params(load_params(ROOT / "params.yaml").profile, {}, ROOT / "conf")
    assert composed == load_params(ROOT / "params.yaml")
    paper = recipes.profile_params("paper", {"data": {"source": "synthetic", "val_size": 200, "test_size": 200},
                                              "image_size": 64}, ROOT / "conf")
    assert (paper.image_size, paper.labeled.strategy, paper.gan.epochs, paper.profile) == (64, "curated", 100, "paper")


def test_pipeline_minutes_adds_epochs_validations_and_baseline() -> None:
    result = {"gan": {"epoch_35k_s": 20.0, "wall_seconds": 12.0, "train_seconds": 10.0, "val_curve": [0.5] * 4},
              "baseline": {"step_ms": 10.0, "wall_seconds": 3.0, "train_seconds": 1.0, "val_curve": [0.5] * 200}}
    # GAN: 100 x (20 + 2 x 0.5) s; baseline: 200 x (0.01 + 2 x 0.01) s
    assert gpureport.pipeline_minutes(result) == pytest.approx((100 * 21.0 + 200 * 0.03) / 60)


@pytest.mark.skipif(not RESULTS, reason="no committed GPU results under metrics/gpu/")
def test_report_rebuilds_the_tables_from_the_committed_results(capsys) -> None:
    from semisup.__main__ import main

    main(["gpu-check", "report", *map(str, RESULTS)])
    text = capsys.readouterr().out
    assert "NVIDIA H200" in text and "| GAN epoch |" in text and "published pipeline" in text
    assert text.count("\n| ") > 10


def test_bad_arguments_are_one_line(tmp_path: Path, capsys) -> None:
    from semisup.__main__ import main

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for argv in (["gpu-check", "run", "--source", str(bad)], ["gpu-check", "report", str(bad)],
                 ["gpu-check", "report"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err


@pytest.mark.slow
def test_dry_run_passes_where_only_pytorch_is_installed(tmp_path: Path) -> None:
    """The device has PyTorch and torchvision but none of DALI, DVC, DVCLive, Hydra: the run must not need them."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent('''
        import importlib.abc, sys
        BLOCKED = ("nvidia.dali", "dvc", "dvclive", "hydra", "omegaconf")
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ModuleNotFoundError(f"No module named {name!r}")
        sys.meta_path.insert(0, Block())
    '''))
    out = tmp_path / "out"
    # one thread: on a small shared CPU a second PyTorch thread spins while another process holds the core
    env = {"PYTHONPATH": f"{site}:{ROOT / 'src'}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "semisup", "gpu-check", "dry-run", "--no-dali", "--out", str(out),
                           "--source", str(MINI)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)  # a guard against a hang: it took 655 s at load 8 on 2 cores
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu-check.json").read_text())
    assert report["environment"]["dali"] is False
    failed = {k: s.get("error") for k, s in report["steps"].items() if not s["ok"]}
    assert not failed and set(report["steps"]) == {"tests", "data", "bench", "train paper", "train improved-fast"}
    assert report["steps"]["tests"]["result"]["tests"] >= 7  # collected (skipped without CUDA), not broken
    train = report["steps"]["train paper"]["result"]
    assert train["decoder"] == "torchvision" and train["gan"]["steps"] == 2 and train["baseline"]["steps"] == 2
    assert (out / "bench.json").is_file() and "GPU check on cpu" in done.stdout
