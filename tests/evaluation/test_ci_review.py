"""The PR review (`semisup ci-review`) in temporary git + DVC repositories whose commits' metrics differ: a small
dvc.yaml, the project's own dvc.yaml (its axis titles are prose, not columns), and a base rerun on this machine."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from semisup.evaluation.review_plots import curve_points, draw_curves, fields, plot_definitions

ROOT = Path(__file__).resolve().parents[2]
REVIEW = [sys.executable, "-m", "semisup", "ci-review"]


def sh(cmd, cwd, check=True):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def init(path: Path) -> Path:
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@example.com"],
                ["git", "config", "user.name", "CI"], ["dvc", "init", "-q"]):
        sh(cmd, path)
    return path


def commit(repo: Path, message: str) -> None:
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", message], repo)


@pytest.fixture()
def repo(tmp_path):
    init(tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        "metrics:\n  - metrics/gan.json\n"
        "plots:\n  - Validation accuracy:\n      x: step\n      y:\n        curves/gan.tsv: val_accuracy\n"
        "  - Test confusion matrix:\n      template: confusion\n      x: predicted\n      y:\n"
        "        confusions/gan.csv: actual\n")
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    commit(tmp_path, "no metrics yet")
    return tmp_path


def commit_metrics(repo, accuracy, seed):
    for folder in ("metrics", "curves", "confusions"):
        (repo / folder).mkdir(exist_ok=True)
    (repo / "curves" / "gan.tsv").write_text("step\tval_accuracy\n10\t0.5\n20\t" + f"{accuracy}\n")
    right = round(10 * accuracy)
    (repo / "confusions" / "gan.csv").write_text("actual,predicted\n" + "cat,cat\n" * right + "cat,dog\n" * (10 - right))
    (repo / "metrics" / "gan.json").write_text(json.dumps({"test_accuracy": accuracy}))
    (repo / "params.yaml").write_text(f"seed: {seed}\n")
    commit(repo, f"accuracy {accuracy}")


def review(repo, base, *extra):
    return sh([*REVIEW, base, "--out", "review.md", *extra], repo).stdout


def test_diff_between_two_commits(repo):
    commit_metrics(repo, 0.5, 0)
    commit_metrics(repo, 0.6, 1)
    text = review(repo, "HEAD~1")
    assert "test_accuracy" in text and "0.6" in text and "0.1" in text  # new value and the change
    assert "seed" in text  # the params diff
    assert "test_accuracy" in (repo / "review.md").read_text()
    assert "deterministic per CPU model" in text and "--rerun-base" in text  # committed figures: the caveat said


def test_base_without_metrics_says_so(repo):
    commit_metrics(repo, 0.5, 0)
    text = review(repo, "HEAD~1")
    assert "test_accuracy" in text and "0.5" in text  # everything is new against a base with no metrics


def test_missing_base_gives_a_clear_message(repo):
    text = review(repo, "origin/does-not-exist")
    assert "could not be fetched" in text and "git fetch" in text


def test_no_change_says_so_instead_of_an_empty_table(repo):
    commit_metrics(repo, 0.5, 0)
    (repo / "notes.txt").write_text("unrelated change\n")
    commit(repo, "no metric change")
    text = review(repo, "HEAD~1")
    assert "No metric changed" in text and "No param changed" in text


def test_the_plots_diff_is_drawn_as_images_the_comment_links(repo):
    """A comment cannot run Vega: each plot of `dvc plots diff` becomes a PNG beside the review, linked from it."""
    commit_metrics(repo, 0.5, 0)
    commit_metrics(repo, 0.7, 1)
    text = review(repo, "HEAD~1")
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert sorted(links) == ["review-plots/test-confusion-matrix.png", "review-plots/validation-accuracy.png"], text
    for link in links:
        assert (repo / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "solid: this PR, dashed: base (HEAD~1)" in text


# ------------------------------------------------------------------------------------- the project's own dvc.yaml


def coloured_pixels(png: Path, colour: str) -> int:
    """Pixels within a small distance of a matplotlib colour (`C0`, ...): the lines drawn in it."""
    from matplotlib.colors import to_rgb

    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=float)
    target = np.array(to_rgb(colour)) * 255
    return int((np.abs(pixels - target).sum(axis=2) < 60).sum())


def write_project_outputs(repo: Path, shift: float) -> dict[str, list[str]]:
    """Every curve file the project's plots name, and its confusion CSVs; returns title -> series drawn."""
    series = {}
    for item in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]:
        if not isinstance(item, dict):
            continue
        (title, spec), = item.items()
        x = spec["x"]
        for path, field in spec["y"].items():
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if "confusion" in spec.get("template", ""):
                right = 7 + int(10 * shift)
                target.write_text("actual,predicted\n" + "cat,cat\n" * right + "cat,dog\n" * (10 - right)
                                  + "dog,dog\n" * 8 + "dog,cat\n" * 2)
            else:
                rows = [f"{step}\t{0.3 + shift + 0.1 * k + 0.01 * len(series.get(title, []))}"
                        for k, step in enumerate(range(10, 60, 10))]
                target.write_text(f"{x}\t{field}\n" + "\n".join(rows) + "\n")
            series.setdefault(title, []).append(path)
    return series


def test_the_projects_own_plots_are_drawn_with_their_curves_and_confusion_matrices(tmp_path):
    """The project's dvc.yaml titles its axes "optimiser step" and "predicted class"; the columns are `step` and
    `predicted`. Every curve plot must show each of its series (pixels of its colour well beyond a legend's), and
    the confusion matrices must be drawn."""
    repo = init(tmp_path)
    for name in ("dvc.yaml", "params.yaml", ".dvc/plots"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, repo / name)
    write_project_outputs(repo, 0.0)
    commit(repo, "base")
    series = write_project_outputs(repo, 0.1)
    commit(repo, "a method changed")
    text = review(repo, "HEAD~1")
    definitions = plot_definitions(repo / "dvc.yaml")
    links = dict(re.findall(r"\*\*([^*]+)\*\*\n\n!\[[^]]*\]\(([^)]+)\)", text))
    assert set(links) == set(definitions), text
    for title, link in links.items():
        png = repo / link
        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert pixels.std() > 0, title  # not a blank image
        if "confusion" in definitions[title]["template"]:
            assert coloured_pixels(png, "#08306b") + coloured_pixels(png, "#6baed6") > 2000, title  # filled cells
            assert Image.open(png).height > 5 * 150  # five methods, one row each
            continue
        for i in range(len(series[title])):  # one colour per series: its two lines, not just its legend entries
            assert coloured_pixels(png, f"C{i}") > 300, (title, i, coloured_pixels(png, f"C{i}"))
    assert fields({"a.tsv": "x", "b.tsv": ["x", "y"]}) == ["x", "y"] and fields("step") == ["step"]


def test_an_empty_series_is_left_out_and_a_plot_with_none_is_not_drawn(tmp_path):
    """A revision whose curve has no number (a NaN, an empty file) draws no line and gets no legend entry; a plot
    with nothing to draw is not an image at all."""
    rows = [{"step": "10", "val_accuracy": "0.5", "rev": "workspace", "filename": "gan/plots/metrics/val_accuracy.tsv"},
            {"step": "20", "val_accuracy": "0.6", "rev": "workspace", "filename": "gan/plots/metrics/val_accuracy.tsv"},
            {"step": "10", "val_accuracy": "nan", "rev": "HEAD~1", "filename": "gan/plots/metrics/val_accuracy.tsv"},
            {"step": "10", "val_accuracy": "", "rev": "HEAD~1", "filename": "fixmatch/plots/metrics/val_accuracy.tsv"}]
    lines = curve_points(rows, ["step"], ["val_accuracy"])
    assert lines == {("gan", "workspace"): [(10.0, 0.5), (20.0, 0.6)]}
    assert not draw_curves("t", curve_points(rows[2:], ["step"], ["val_accuracy"]), ("x", "y"), False, "base",
                           tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


# --------------------------------------------------------------------------------------------- the base, rerun here


def test_rerun_base_compares_two_runs_on_this_machine(tmp_path):
    """The base's committed figure (0.55, "from another CPU") is not what its code gives here (0.5): with
    `--rerun-base` the review compares with the rerun, so the change shown is the pull request's alone (+0.1)."""
    repo = init(tmp_path)
    (repo / "dvc.yaml").write_text("stages:\n  score:\n    cmd: python score.py\n    deps: [score.py]\n"
                                   "    metrics:\n      - metrics.json:\n          cache: false\n")
    (repo / "score.py").write_text("import json; json.dump({'test_accuracy': 0.5}, open('metrics.json', 'w'))\n")
    (repo / "metrics.json").write_text(json.dumps({"test_accuracy": 0.55}))
    commit(repo, "base, its figure committed from another machine")
    (repo / "score.py").write_text("import json; json.dump({'test_accuracy': 0.6}, open('metrics.json', 'w'))\n")
    sh(["dvc", "repro"], repo)
    commit(repo, "the pull request")
    committed = review(repo, "HEAD~1")
    assert "0.55" in committed and "0.05" in committed  # the cross-machine difference, shown with the caveat
    rerun = review(repo, "HEAD~1", "--rerun-base")
    assert "reproduced on this machine" in rerun and "0.55" not in rerun, rerun
    table = rerun.split("### Params")[0]
    assert re.search(r"\|\s*0\.5\s*\|\s*0\.6\s*\|\s*0\.1\s*\|", table), table
    assert sh(["git", "worktree", "list"], repo).stdout.count("\n") == 1  # the temporary worktree is gone
    assert sh(["git", "status", "--porcelain"], repo).stdout == "?? review.md\n"  # the rerun's outputs stay out


def test_rerun_base_that_fails_says_so_and_falls_back(repo):
    commit_metrics(repo, 0.5, 0)
    (repo / "dvc.yaml").write_text((repo / "dvc.yaml").read_text() + "stages:\n  broken:\n    cmd: exit 3\n")
    commit(repo, "a base that cannot run")
    commit_metrics(repo, 0.6, 1)
    text = review(repo, "HEAD~1", "--rerun-base")
    assert "could not be reproduced here" in text and "test_accuracy" in text


# ------------------------------------------------------------------------------------------------------ workflows


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def steps(flow: dict) -> list[dict]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_the_pull_request_workflow_reruns_the_base_and_posts_the_review_with_cml():
    flow = workflow("review.yml")
    assert "pull_request" in flow[True]  # YAML 1.1 reads the key `on` as True
    runs = [s.get("run", "") for s in steps(flow)]
    assert any("bash .ci/setup" in s for s in runs) and any("dvc repro" in s for s in runs)
    assert any("semisup ci-review origin/${{ github.base_ref }} --rerun-base" in s for s in runs)
    assert any("cml comment create --publish review.md" in s for s in runs)


def test_the_ci_workflow_runs_the_tests_on_pushes_and_pull_requests_with_the_pip_cache():
    flow = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(flow[True])
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps(flow))
    python = next(s for s in steps(flow) if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert python["with"]["cache"] == "pip" and "requirements.txt" in python["with"]["cache-dependency-path"]
