"""`dvc repro` and `dvc exp run` of the whole pipeline in a temporary git repository, on the `smoke` profile."""
import csv
import io
import json
import os
import shutil
import subprocess
import time
import sys
from pathlib import Path

import pytest

from semisup.methods import names, semi_supervised

ROOT = Path(__file__).resolve().parents[1]
COPY = ["dvc.yaml", "conf", "stages", "src", "data/curation", ".dvc/config", ".dvc/plots", ".dvcignore", ".gitignore",
        "synthetic"]

pytestmark = pytest.mark.slow
# The README's comparison command (docs/experiments.md too): per experiment, the seed, the test accuracies and the gains
README_EXP_SHOW = ["dvc", "exp", "show", "--drop", ".*", "--keep", "^(Experiment|seed|baseline|gan|fixmatch|simclr|simclr_fixmatch)$",
                   "--precision", "3"]


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           **(env or {})}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0 or not check, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("project")
    for name in COPY:
        src, dst = ROOT / name, repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")) if src.is_dir() else shutil.copy(src, dst)
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.email", "ci@example.com"], repo)
    run(["git", "config", "user.name", "CI"], repo)
    run([sys.executable, "-m", "semisup.params", "profile=smoke"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "init"], repo)
    run(["dvc", "repro"], repo)
    return repo


def test_repro_runs_every_stage_and_writes_metrics(repo):
    for method in names():
        metrics = json.loads((repo / "metrics" / f"{method}.json").read_text())
        assert 0 <= metrics["test_accuracy"] <= 1
        assert metrics["test_images"] == 20
        assert all(isinstance(v, (int, float)) for v in metrics.values()), metrics  # numbers only: DVC compares them
    provenance = json.loads((repo / "metrics" / "provenance.json").read_text())
    assert (provenance["data_source"], provenance["image_size"], provenance["profile"]) == ("synthetic", 32, "smoke")
    for method in (*names(), "pretrain"):  # seconds beside each model, tied to it by its md5, never inside it
        timing = json.loads((repo / "models" / f"{method}.timing.json").read_text())
        assert timing["train_seconds"] > 0 and timing["steps"] > 0, timing
        assert timing["model_md5"] == cached_file(repo, f"models/{method}.pt").parent.name + cached_file(
            repo, f"models/{method}.pt").name
        assert "train_seconds" not in torch_load(repo / "models" / f"{method}.pt")["train"]
    summary = json.loads((repo / "metrics" / "summary.json").read_text())
    assert set(summary) == {*names(), "gain", *(f"gain_{m}" for m in semi_supervised() if m != "gan")}
    gan, base = (json.loads((repo / "metrics" / f"{m}.json").read_text())["test_accuracy"] for m in ("gan", "baseline"))
    assert summary["gain"] == pytest.approx(gan - base, abs=1e-6)  # one unit: fractions of the test set
    manifest = (repo / "data" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 80 + 40 + 1  # header, labelled, test1, sampleSubmission.csv
    assert len(list((repo / "data" / "labeled").iterdir())) == 20
    assert (repo / "dvclive" / "gan" / "plots" / "images" / "generated" / "epoch_002.png").is_file()
    untracked = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).splitlines()
    assert not [line for line in untracked if "/plots/images/" in line], untracked  # grids stay out of git
    shown = run(["dvc", "metrics", "show", "--json"], repo)
    assert "test_accuracy" in shown
    run(["dvc", "plots", "show", "--json"], repo)
    status = run(["dvc", "status", "--json"], repo)
    assert json.loads(status) == {}, status  # nothing left to run, the source stage included


def test_a_rerun_changes_nothing_git_or_dvc_tracks(repo):
    """Training seconds live beside the models, not in them: a forced rerun of training and evaluation leaves every
    model's hash, dvc.lock and the metrics as committed (training is deterministic on one machine)."""
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "the pipeline's outputs"], repo)
    out = run(["dvc", "repro", "--force", "--single-item", "train@baseline", "train@gan", "evaluate"], repo)
    assert "Running stage 'train@gan'" in out
    assert run(["git", "status", "--porcelain"], repo) == ""
    assert json.loads(run(["dvc", "status", "--json"], repo)) == {}


def test_a_study_result_reads_the_model_once_and_records_the_pretraining_of_arms_that_start_from_it(repo,
                                                                                                    monkeypatch):
    """`semisup study run`'s measurement on the pipeline's own outputs: the test accuracy evaluate also wrote, the
    stand-in named by its settings, and the pretraining's cost for the methods that start from its encoder (those
    whose class names a `pretrained` file), not for the others."""
    from semisup.evaluation.study_run import measure

    monkeypatch.chdir(repo)
    for method in names():
        result = measure(method, 0, 1.0)
        written = json.loads((repo / "metrics" / f"{method}.json").read_text())["test_accuracy"]
        assert result["test_accuracy"] == pytest.approx(written, abs=1e-6) and result["test_images"] == 20
        assert result["data_sha256"].startswith("synthetic-") and result["synthetic"]["per_class"] > 0
        assert ("pretrain" in result) == (method in ("simclr", "simclr_fixmatch")), method
        if "pretrain" in result:
            assert result["pretrain"]["steps"] > 0 and result["pretrain"]["seconds"] > 0  # from beside the encoder
        assert result["train_seconds"] > 0


def test_a_budget_ladder_gives_each_unlabelled_method_the_images_it_names_and_runs_the_baseline_once(repo, monkeypatch):
    """`semisup study run --images`: the GAN and FixMatch each see exactly the budget (steps x unlabelled images per
    step), the baseline runs once as the flat reference, every result keeps its per-photo test probabilities and the
    optimiser step of its best validation, and params.yaml is left as the study's own."""
    from semisup.evaluation.study_run import run_study
    from semisup.evaluation.study_tables import load_results

    monkeypatch.chdir(repo)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = repo / "ladder"
    run_study([0], ["baseline", "gan", "fixmatch"], out, "smoke", budgets=[320])  # smoke: 16 images a step
    assert sorted(p.name for p in out.iterdir()) == ["baseline-seed0.json", "fixmatch@320-seed0.json",
                                                    "gan@320-seed0.json"]
    results = load_results(out)
    for arm in ("gan", "fixmatch"):  # a second budget is the same arithmetic (tests/methods: budget_overrides)
        r = results[f"{arm}@320"][0]
        assert r["budget"] == r["unlabeled_images"] == 320 and r["steps"] == 320 // 16
        assert len(r["curve"]) == 20 and r["best_step"] in [step for step, _ in r["curve"]]
        assert len(r["test_probabilities"]) == len(r["test_labels"]) == r["test_images"] == 20
        correct = [(p >= 0.5) == bool(y) for p, y in zip(r["test_probabilities"], r["test_labels"])]
        assert sum(correct) / 20 == pytest.approx(r["test_accuracy"], abs=0.051)  # ties at 0.5 aside
    assert results["baseline"][0]["unlabeled_images"] == 0 and results["baseline"][0]["budget"] is None
    assert results["gan@320"][0]["unlabeled_pool"] == len(list((repo / "data" / "unlabeled").rglob("*.jpg")))
    assert "max_steps_per_epoch: 2\n" in (repo / "params.yaml").read_text()  # the smoke profile's own, not a budget's


def test_changing_strategy_reruns_curate_and_downstream_but_not_prepare(repo):
    out = run(["dvc", "exp", "run", "-S", "profile=smoke", "-S", "labeled.strategy=representative"], repo)
    assert "Stage 'prepare' didn't change, skipping" in out
    assert "Stage 'pretrain' didn't change, skipping" in out  # it reads no labelled set: shared by every strategy
    for stage in ("curate", *(f"train@{m}" for m in names()), "evaluate"):
        assert f"Running stage '{stage}'" in out
    assert "representative" in (repo / "data" / "labeled.csv").read_text()
    assert "representative" in (repo / "metrics" / "provenance.json").read_text()


def test_improved_recipe_runs_end_to_end(repo):
    """The `improved` profile's changes at the smoke profile's size (the profile itself sets a longer budget)."""
    changes = ["train.augment=true", "train.ema=0.9", "train.schedule=cosine", "train.warmup_steps=1",
               "gan.generator_loss=feature_matching", "gan.passes=joint", "gan.lr=0.0005", "baseline.eval_every=2"]
    out = run(["dvc", "exp", "run", "-S", "profile=smoke", *[a for c in changes for a in ("-S", c)]], repo)
    assert "Stage 'prepare' didn't change, skipping" in out and "Running stage 'train@gan'" in out
    gan = json.loads((repo / "metrics" / "gan.json").read_text())
    recipe = json.loads((repo / "metrics" / "provenance.json").read_text())["recipe"]
    assert recipe["gan"] == ("augment, ema=0.9, schedule=cosine, warmup_steps=1, batch_size=16, "
                             "generator_loss=feature_matching, lr=0.0005, passes=joint")
    assert gan["steps"] == 4  # 2 epochs x 2 steps
    fixmatch = json.loads((repo / "metrics" / "fixmatch.json").read_text())
    assert recipe["fixmatch"].startswith("augment, ema=0.9") and fixmatch["steps"] == 4
    assert "fixmatch" in run(["dvc", "metrics", "show"], repo)


def test_torchrun_two_ranks_write_one_model_and_match_one_process(repo):
    """The GAN stage under torchrun (gloo, 2 CPU processes): each rank its own shard, rank 0 writes everything."""
    run([sys.executable, "-m", "semisup.params", "profile=smoke", "gan.max_steps_per_epoch=0"], repo)
    single = run([sys.executable, "stages/train.py", "gan"], repo)
    one = torch_load(repo / "models" / "gan.pt")
    torchrun = Path(sys.executable).parent / "torchrun"
    out = run([str(torchrun), "--standalone", "--nproc_per_node=2", "stages/train.py", "gan"], repo)
    two = torch_load(repo / "models" / "gan.pt")
    assert "(1 rank(s))" in single and "(2 rank(s))" in out and out.count("gan: best validation accuracy") == 1
    steps_one, steps_two = one["train"]["steps"], two["train"]["steps"]
    assert steps_two * 2 <= steps_one + 2  # each rank reads half of every epoch
    assert abs(one["train"]["val_accuracy"] - two["train"]["val_accuracy"]) <= 0.25  # within the noise of 20 images
    assert len((repo / "dvclive" / "gan" / "plots" / "metrics" / "val_accuracy.tsv").read_text().splitlines()) == 3
    run(["git", "checkout", "params.yaml"], repo)
    run(["dvc", "checkout", "--force"], repo)  # the pipeline's own outputs back, for the tests that follow


def torch_load(path):
    import torch

    return torch.load(path, weights_only=True)


def cached_file(repo: Path, out: str) -> Path:
    """The file in DVC's cache that dvc.lock records for output `out`."""
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    md5 = next(o["md5"] for stage in lock["stages"].values() for o in stage.get("outs", []) if o["path"] == out)
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_a_hand_run_over_a_linked_output_leaves_the_cache_intact(repo):
    """The torchrun recipe (docs/speed.md) runs a stage by hand: with `cache.type` links, writing models/gan.pt in place
    changed the cached copy of the committed model, which then no longer matched its own hash."""
    import hashlib

    cached = cached_file(repo, "models/gan.pt")
    before = cached.read_bytes()
    assert hashlib.md5(before).hexdigest() == cached.parent.name + cached.name  # the cache's layout: md5/ab/cdef…
    run([sys.executable, "stages/train.py", "gan"], repo)
    assert cached.read_bytes() == before
    assert hashlib.md5(cached.read_bytes()).hexdigest() == cached.parent.name + cached.name
    run(["dvc", "checkout", "--force"], repo)
    assert (repo / "models" / "gan.pt").read_bytes() == before


def test_a_new_archive_at_the_same_path_reruns_prepare(repo, tmp_path):
    from semisup.config import SyntheticConfig
    from semisup.data.synthetic import write_synthetic_zip

    archive = repo / "data" / "raw" / "dogs-vs-cats.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    spec = SyntheticConfig(per_class=40, unlabeled=40, size=32)
    write_synthetic_zip(spec, 0, archive)
    overrides = ["-S", "profile=smoke", "-S", "data.source=data/raw/dogs-vs-cats.zip"]
    first = run(["dvc", "exp", "run", *overrides], repo)
    assert "Running stage 'prepare'" in first
    again = run(["dvc", "exp", "run", *overrides], repo)
    assert "Stage 'source' didn't change, skipping" in again  # DVC hashes the archive: no stage runs to check it
    assert "Stage 'prepare' didn't change, skipping" in again
    write_synthetic_zip(spec, 1, tmp_path / "other.zip")  # a different archive, copied over the same path
    archive.write_bytes((tmp_path / "other.zip").read_bytes())
    changed = run(["dvc", "exp", "run", *overrides], repo)
    assert "Running stage 'source'" in changed and "Running stage 'prepare'" in changed and "Running stage 'evaluate'" in changed
    provenance = json.loads((repo / "metrics" / "provenance.json").read_text())
    assert provenance["data_sha256"] == hashlib_of(archive)
    run(["git", "checkout", "params.yaml"], repo)
    run(["dvc", "checkout", "--force"], repo)


def hashlib_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_queued_two_seed_sweep_and_report(repo):
    """The sweep of docs/experiments.md: queue seeds as experiments, run them one at a time, aggregate them."""
    run(["dvc", "exp", "run", "--queue", "-S", "profile=smoke", "-S", "seed=0,1"], repo)
    run(["dvc", "queue", "start", "-j", "1"], repo)
    deadline = time.monotonic() + 600
    while True:
        status = run(["dvc", "queue", "status"], repo)
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(3)
    assert "Failed" not in status, status
    report = run([sys.executable, "-m", "semisup", "report"], repo)
    assert "| synthetic | 32 px | smoke | batch_size=16 | random, 20 | 2 (0,1) |" in report, report
    assert (repo / "metrics" / "report.png").is_file()
    run(["dvc", "queue", "stop"], repo, check=False)  # idle workers may already be gone

    # `dvc exp show --csv`: test accuracy of each method and the gains, as numbers, for both experiments
    rows = list(csv.DictReader(io.StringIO(run(["dvc", "exp", "show", "--csv"], repo))))
    experiments = [r for r in rows if r.get("typ") == "branch_commit" or (r.get("Experiment") or "").strip()]
    columns = rows[0].keys()
    for name in (*(f"{m}.json:test_accuracy" for m in names()), "summary.json:gain",
                 *(f"summary.json:gain_{m}" for m in semi_supervised() if m != "gan")):
        column = next((c for c in columns if c.endswith(name) or c == name.split(":")[1]), None)
        assert column, (name, list(columns))
        values = [float(r[column]) for r in experiments if r[column] not in ("", "-", "!")]
        assert len(values) >= 2, (name, experiments)
    # the README's comparison command: a table that fits a 100-column terminal
    shown = run(README_EXP_SHOW, repo, env={"COLUMNS": "100"})
    header = next(line for line in shown.splitlines() if "Experiment" in line).split()
    assert sorted(header) == sorted(["Experiment", "seed", *names()]), shown
    assert max(len(line.rstrip()) for line in shown.splitlines()) <= 100, shown


def test_the_model_registry_round_trip_push_tag_get_predict(repo, tmp_path, make_photo):
    """The registry path of docs/registry.md, end to end: a DVC remote, `dvc push`, a GTO version tag (`gan@v0.1.0`),
    then `dvc artifacts get` from another folder (DVC clones the repo and pulls from its remote) and `predict` with
    the fetched file."""
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "storage", str(remote)], repo)
    run(["dvc", "push"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "trained models, pushed to the remote"], repo)
    registered = run(["gto", "register", "gan", "--version", "v0.1.0"], repo)
    assert "gan@v0.1.0" in registered and "gan@v0.1.0" in run(["git", "tag"], repo)

    consumer = tmp_path / "consumer"
    consumer.mkdir()
    fetched = run(["dvc", "artifacts", "get", str(repo), "gan", "-o", "gan.pt"], consumer)
    assert (consumer / "gan.pt").read_bytes() == (repo / "models" / "gan.pt").read_bytes(), fetched
    photos = consumer / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"cat.{i}.jpg").write_bytes(make_photo(("registry", i), size=(64, 64)))
    said = run([sys.executable, "-m", "semisup", "predict", "gan.pt", "photos", "--out", "predictions.csv"], consumer)
    assert "wrote predictions.csv: 3 photos" in said, said
    rows = list(csv.DictReader((consumer / "predictions.csv").open()))
    assert sorted(r["file"] for r in rows) == [f"photos/cat.{i}.jpg" for i in range(3)], rows
    assert all(r["predicted"] in ("cat", "dog") for r in rows)
