"""`semisup COMMAND` (the console script, also `python -m semisup`): one entry point for every user command, and
`--help` answers without loading PyTorch or DALI."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from semisup.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_command_without_importing_torch():
    code = ("import sys\nfrom semisup.__main__ import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('torch', 'nvidia.dali', 'dvc') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    for name in ("predict", "review", "params", "report", "ci-review", "bench", "gpu-check"):
        assert name in COMMANDS and f"    {name}" in done.stdout


def test_a_mistyped_command_names_the_choices(capsys):
    from semisup.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["predic"])
    assert info.value.code == 2 and "invalid choice: 'predic' (choose from 'predict'" in capsys.readouterr().err


@pytest.mark.parametrize("command, words", [("review", "ACTION"), ("ci-review", "base"), ("params", "OVERRIDE")])
def test_each_command_has_its_own_arguments(command, words, capsys):
    from semisup.__main__ import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert words in capsys.readouterr().out


def test_params_subcommand_composes_params_yaml(tmp_path):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    done = subprocess.run([sys.executable, "-m", "semisup", "params", "profile=smoke", "seed=3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "params.yaml").read_text()
    assert "profile: smoke" in text and "seed: 3" in text


def test_output_piped_into_head_ends_quietly(tmp_path):
    """`semisup ... | head -40` (as CI runs the review): no BrokenPipeError traceback, exit status 0."""
    import subprocess
    import sys

    script = tmp_path / "many.py"
    script.write_text("from semisup.cli import run_stage\n"
                      "run_stage(lambda: [print('line', i) for i in range(100000)])\n")
    done = subprocess.run(f"{sys.executable} {script} | head -2; exit ${{PIPESTATUS[0]}}", shell=True,
                          executable="/bin/bash", capture_output=True, text=True)
    assert done.stdout == "line 0\nline 1\n" and "Traceback" not in done.stderr and done.returncode == 0, done
