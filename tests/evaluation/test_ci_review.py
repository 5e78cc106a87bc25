"""The CI review script in a temporary git + DVC repository with two commits whose metrics differ."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "stages" / "ci_review.py"


def sh(cmd, cwd, check=True):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture()
def repo(tmp_path):
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@example.com"],
                ["git", "config", "user.name", "CI"], ["dvc", "init", "-q"]):
        sh(cmd, tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        "metrics:\n  - metrics/gan.json\n"
        "plots:\n  - Validation accuracy:\n      x: step\n      y:\n        curves/gan.tsv: val_accuracy\n"
        "  - Test confusion matrix:\n      template: confusion\n      x: predicted\n      y:\n"
        "        confusions/gan.csv: actual\n")
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    sh(["git", "add", "-A"], tmp_path)
    sh(["git", "commit", "-qm", "no metrics yet"], tmp_path)
    return tmp_path


def commit_metrics(repo, accuracy, seed):
    for folder in ("metrics", "curves", "confusions"):
        (repo / folder).mkdir(exist_ok=True)
    (repo / "curves" / "gan.tsv").write_text("step\tval_accuracy\n10\t0.5\n20\t" + f"{accuracy}\n")
    right = round(10 * accuracy)
    (repo / "confusions" / "gan.csv").write_text("actual,predicted\n" + "cat,cat\n" * right + "cat,dog\n" * (10 - right))
    (repo / "metrics" / "gan.json").write_text(json.dumps({"test_accuracy": accuracy}))
    (repo / "params.yaml").write_text(f"seed: {seed}\n")
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", f"accuracy {accuracy}"], repo)


def review(repo, base):
    return sh([sys.executable, str(SCRIPT), base, "--out", "review.md"], repo).stdout


def test_diff_between_two_commits(repo):
    commit_metrics(repo, 0.5, 0)
    commit_metrics(repo, 0.6, 1)
    text = review(repo, "HEAD~1")
    assert "test_accuracy" in text and "0.6" in text and "0.1" in text  # new value and the change
    assert "seed" in text  # the params diff
    assert "test_accuracy" in (repo / "review.md").read_text()


def test_base_without_metrics_says_so(repo):
    commit_metrics(repo, 0.5, 0)
    text = review(repo, "HEAD~1")
    assert "test_accuracy" in text  # everything is new against a base with no metrics
    assert "0.5" in text


def test_missing_base_gives_a_clear_message(repo):
    text = review(repo, "origin/does-not-exist")
    assert "could not be fetched" in text and "git fetch" in text


def test_no_change_says_so_instead_of_an_empty_table(repo):
    commit_metrics(repo, 0.5, 0)
    (repo / "notes.txt").write_text("unrelated change\n")
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "no metric change"], repo)
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
    assert "solid: this PR, dashed: `HEAD~1`" in text


def test_the_pull_request_workflow_runs_the_review_and_posts_it_with_cml():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "review.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("bash .ci/setup" in s for s in steps) and any("dvc repro" in s for s in steps)
    assert any("stages/ci_review.py origin/${{ github.base_ref }}" in s for s in steps)
    assert any("cml comment create --publish review.md" in s for s in steps)
