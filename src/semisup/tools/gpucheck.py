"""`semisup gpu-check`: make the few minutes of a lent GPU count, and a missing GPU cost nothing.

    semisup gpu-check plan                 # here: the check's parts in .gpucheck/, its device calls
    semisup gpu-check plan --plan article  # here: the 128-px set in three parts, the article's calls
    python -m semisup gpu-check run ...              # there (a command `plan` prints): tests, bench, 224-px runs
    python -m semisup gpu-check article ...          # there (a command `plan --plan article` prints)
    semisup gpu-check dry-run [--plan article]   # here: the plan's work on the CPU with a tiny budget
    semisup gpu-check report metrics/gpu/*/*.json

A lent GPU machine has PyTorch and nothing else of ours (no DALI, DVC, DVCLive or Hydra); what it takes per call and
in all is in `tools.lease`. The check is **one main call** that needs no carried wheel (the mini set's photos travel
with it, torchvision's decoder stands in for DALI: the `gpu`-marked tests, the benchmark at 64 and 224 px, the
`paper` and `improved` recipes at 224 px for a fixed number of steps), then **DALI, if time is left**: its wheels
(~265 MB) in five back-to-back calls, the last installing them and repeating the tests and loader rows. The main
call comes first so that a failed or slow DALI transfer loses nothing already measured. The article's experiment is
`tools.article`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from ..errors import PipelineError
from . import lease
from .carry import Call, check_calls, copy_command, device_seconds, download_wheels, join_command, pack

DALI_REQUIREMENT = "nvidia-dali-cuda130==2.4.0"
MINI = Path("../shared/data/dogs-vs-cats-mini.zip")
CHECK_S = 230  # the main call's wall time on an H200 (measured 217 s on 2026-12-04)


def run_command(extra: str, log: str) -> str:
    env = "export PYTHONUNBUFFERED=1 PYTHONPATH=/root/site:$PWD/src"
    return (f"{env}; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee $OUT/gpu.txt;"
            f" python3 -m semisup gpu-check run --source {lease.WORK}/{MINI.name} --work {lease.WORK}/run --out $OUT "
            f"{extra} 2>&1 | tee $OUT/{log}")


def plan_calls(root: Path, source: Path, dali: bool) -> tuple[list[Call], dict[str, int]]:
    """Build .gpucheck/main (the data for the main call) and .gpucheck/dali* (DALI's wheels in parts), and the
    device calls in order, each checked against the lending rules."""
    if not source.is_file():
        raise PipelineError(f"--source: {source} is not a file; the check trains on the mini set's photos "
                            f"({MINI} beside the project)")
    out = root / ".gpucheck"
    for old in [out / "main", out / "wheels", *out.glob("dali*"), out / "calls.json"]:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    (out / "main").mkdir(parents=True)
    shutil.copyfile(source, out / "main" / MINI.name)
    main_cmd = f"mkdir -p {lease.WORK} && cp .gpucheck/main/{MINI.name} {lease.WORK}/ && " + run_command("", "run.log")
    calls = [Call("main: tests, bench 64/224 px, paper and improved at 224 px (no DALI)", [".gpucheck/main"],
                  main_cmd, 540, CHECK_S)]
    if dali:
        parts = pack(download_wheels(DALI_REQUIREMENT, out / "wheels"), out, "dali")
        shutil.rmtree(out / "wheels")
        for k, part in enumerate(parts, 1):
            rel = part.relative_to(root).as_posix()
            last = k == len(parts)
            cmd = copy_command(rel, lease.WORK)
            if last:
                cmd += f" && ({join_command(lease.WORK)}) && " + run_command("--dali-only", "run-dali.log")
            calls.append(Call(f"DALI part {k}/{len(parts)}" + (": install, DALI tests and loaders" if last
                                                              else " (call at once: the machine stays warm ~30 s)"),
                              [rel], cmd, 300 if last else 120, 150 if last else lease.CARRY_CALL_S))
    sizes = check_calls(root, calls)
    (out / "calls.json").write_text(json.dumps([asdict(c) for c in calls], indent=2) + "\n")
    return calls, sizes


def print_plan(calls: list[Call], sizes: dict[str, int]) -> None:
    expected, _ = device_seconds(calls)
    print(f"GPU check: {len(calls)} device call(s), expected device time {expected / 60:.1f} min "
          f"(a start ~{lease.START_S} s + the calls; the budget is {lease.LEASE_S // 60} min). Sizes per call:")
    for name, size in sizes.items():
        print(f"  {name}: {size / lease.MIB:.1f} MiB")
    for k, c in enumerate(calls, 1):
        print(f"\n# call {k}: {c.what} (~{c.expected_s} s)\ncarry: {json.dumps(c.carry)}\ntimeout_s: {c.timeout_s}\n"
              f"command: {c.command}")
    print("\nThe calls are in .gpucheck/calls.json; fetch $OUT (gpu-check.json, bench.json, run.log) after each.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=("plan", "run", "article", "dry-run", "report"),
                        help="plan | run | article | dry-run | report")
    parser.add_argument("files", nargs="*", type=Path,
                        help="report: gpu-check.json files, one per device call; article: the plan file")
    parser.add_argument("--plan", dest="which", choices=("check", "article"), default="check",
                        help="plan, dry-run: the GPU check (default) or the article's experiment")
    parser.add_argument("--source", type=Path, default=None,
                        help=f"the photos (default {MINI}; with --plan article, the 128-px set beside it)")
    parser.add_argument("--no-dali", action="store_true", help="plan: leave DALI's wheels out")
    parser.add_argument("--compile", action="store_true",
                        help="plan --plan article: train with torch.compile (its minutes budgeted); run: add the "
                             "bench's fast+compile variant")
    parser.add_argument("--out", type=Path, default=None, help="run, article: results folder ($OUT on the device)")
    parser.add_argument("--work", type=Path, default=None, help="run: scratch folder (prepared data, caches)")
    parser.add_argument("--call", type=int, default=None, help="article: which of the plan's calls this is")
    parser.add_argument("--device", default="auto", help="run, article: auto, cpu or cuda")
    parser.add_argument("--tiny", action="store_true", help="run: the dry run's budget (seconds on a CPU)")
    parser.add_argument("--dali-only", action="store_true", help="run: the DALI follow-up (after its wheels)")
    parser.add_argument("--only", nargs="+", choices=("tests", "data", "bench", "train"), help="run: these steps")
    parser.add_argument("--recipes", nargs="+", choices=("paper", "paper-fast", "paper-fast-compile", "improved-fast"),
                        help="run: recipes to train")
    parser.add_argument("--sizes", nargs="+", type=int, help="run: bench image sizes (default 64 224)")


def run(args: argparse.Namespace) -> None:
    if args.mode == "report":
        report(args.files)
    elif args.mode == "plan" and args.which == "article":
        from dataclasses import replace

        from . import article

        calls, sizes, plan = article.build(Path.cwd(), args.source or article.SOURCE,
                                           replace(article.FULL, compile=args.compile))
        print(article.describe(calls, sizes, plan), end="")
    elif args.mode == "plan":
        print_plan(*plan_calls(Path.cwd(), args.source or MINI, not args.no_dali))
    elif args.mode == "article":
        from .articlerun import run_article

        if len(args.files) != 1 or args.call is None or args.out is None:
            raise PipelineError("gpu-check article: give the plan file, --call and --out (as the plan's commands do)")
        run_article(args.files[0], args.call, args.out, args.device)
    elif args.mode == "run":
        from .gpurun import run_check

        if args.out is None or args.work is None:
            raise PipelineError("gpu-check run: give --out (results) and --work (scratch) folders")
        args.source = args.source or MINI
        if not args.source.is_file():
            raise PipelineError(f"--source: {args.source} is not a file (on the device: was the main call's "
                                f"data copied to {lease.WORK}? the machine may have gone cold between calls)")
        run_check(args)
    elif args.which == "article":
        dry_run_article(args.out)
    else:
        dry_run_check(args)


def report(paths: list[Path]) -> None:
    from .gpureport import report_markdown

    runs = []
    for path in paths:
        try:
            runs.append((path.stem, json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            raise PipelineError(f"{path}: not a readable gpu-check.json ({exc}); give the files `run` "
                                "wrote") from None
    if not runs:
        raise PipelineError("gpu-check report: name the gpu-check.json files, e.g. metrics/gpu/*/*.json")
    print(report_markdown(runs), end="")


def dry_run_check(args: argparse.Namespace) -> None:
    """Every carried part built and checked, then the run's steps on the CPU with a tiny budget."""
    from .gpurun import run_check

    source = args.source or MINI
    with tempfile.TemporaryDirectory() as tmp:
        if not source.is_file():
            from ..config import SyntheticConfig
            from ..data.synthetic import write_synthetic_zip

            print(f"{source} not found: the dry run uses stand-in data")
            source = write_synthetic_zip(SyntheticConfig(per_class=200, unlabeled=200, size=64), 0,
                                         Path(tmp) / "stand-in.zip")
        print_plan(*plan_calls(Path.cwd(), source, not args.no_dali))
        out = args.out or Path(tmp) / "out"
        run_check(argparse.Namespace(**{**vars(args), "source": source, "out": out,
                                        "work": args.work or Path(tmp) / "work", "tiny": True, "device": "cpu"}))
        print(f"dry run done; results in {out}" if args.out else "dry run done")


def dry_run_article(keep: Path | None) -> None:
    """The article plan's calls, with the tiny budget, run here as the device would run them."""
    from .rehearsal import rehearse_article

    if keep is not None and keep.exists() and not keep.is_dir():
        raise PipelineError(f"--out: {keep} is a file; give a folder for the rehearsal's files")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = keep or Path(tmp)
        calls, results, _ = rehearse_article(Path.cwd(), scratch)
        for r in results:
            print(f"# call {r['call']}: {r['what']}\nexit {r['returncode']} in {r['seconds']} s; back from $OUT: "
                  f"{', '.join(r['files']) or 'nothing'}" + (f"; refused: {r['refused']}" if r["refused"] else ""))
        failed = [r for r in results if r["returncode"] != 0]
        if failed:
            last = (failed[0]["output"].strip().splitlines() or [""])[-1]
            raise PipelineError(f"dry run: call {failed[0]['call']} exited {failed[0]['returncode']}: {last}")
        print(f"dry run done: {len(results)} of {len(calls)} calls" + (f"; files in {scratch}" if keep else ""))
