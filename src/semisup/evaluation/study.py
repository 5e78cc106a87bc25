"""`semisup study run | report`: a study over seeds whose every finished run is one small committed file.

    semisup study run --seeds 0-5 --out metrics/study/study   # every registered method; params.yaml is the study's
    semisup study run --arms baseline,gan --images 12800,64000 --seeds 0-2   # a budget ladder
    semisup study report metrics/study/study                  # table, per-seed figures, plot

Running and measuring: `study_run`; tables and figures: `study_tables` (and `ladder` for budget ladders).
"""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import ConfigError
from ..files import write_text
from .ladder import LADDER_SUFFIX, plot_ladder, render_ladder
from .study_run import image_budgets, run_study, seed_range
from .study_tables import load_results, plot_curves, render


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="train and measure each arm for each seed (skips measured ones)")
    run.add_argument("--seeds", default="0-5", help="e.g. 0-5 or 0,2,4 (default 0-5)")
    run.add_argument("--arms", default=None, help="registered methods, comma-separated (default: every one)")
    run.add_argument("--out", type=Path, default=None, help="result folder (default metrics/study/<profile>)")
    run.add_argument("--force", action="store_true", help="measure again even where a result exists")
    run.add_argument("--images", default=None, metavar="N[,N...]",
                     help="budgets in unlabelled images seen, e.g. 12800,64000: each arm that reads unlabelled images "
                          "runs once per budget (the baseline once); default folder metrics/study/<profile>-ladder")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="a param for every run, e.g. --set labeled.size=200 (default folder then "
                          "metrics/study/<profile>-labeled.size=200)")
    report = sub.add_parser("report", help="the table and the curve plot from the result files")
    report.add_argument("folders", type=Path, nargs="+",
                        help="result folders, e.g. metrics/study/study (more: other profiles' arms on the same data)")
    report.add_argument("--markdown", type=Path, default=None, help="also write the table here (default: print)")
    report.add_argument("--figure", type=Path, default=None, help="also draw the curves here (PNG)")


def run(args) -> None:
    if args.action == "run":
        from ..typed import read_params_file

        profile = read_params_file("params.yaml", "the project root (where dvc.yaml is)").get("profile", "demo")
        bad = [o for o in args.overrides if "=" not in o or o.startswith(("profile=", "seed="))]
        if bad:
            raise ConfigError(f"--set {bad[0]}: use KEY=VALUE for a param other than profile and seed (those come "
                              "from params.yaml and --seeds)")
        refuse_hand_edits(Path("params.yaml"), str(profile))
        budgets = image_budgets(args.images) if args.images else []
        out = args.out or Path("metrics/study") / "-".join([str(profile), *args.overrides, *(["ladder"] if budgets else [])])
        from ..methods import names

        arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms is not None else list(names())
        run_study(seed_range(args.seeds), arms, out, str(profile), args.force, tuple(args.overrides), budgets)
        return
    results = load_results(*args.folders)
    ladder = all(folder.name.endswith(LADDER_SUFFIX) for folder in args.folders)
    text = "\n".join(render_ladder(load_results(f), f) for f in args.folders) if ladder else render(results, args.folders)
    if args.markdown:
        write_text(args.markdown, text)
    if args.figure:
        plot_ladder({f: load_results(f) for f in args.folders}, args.figure) if ladder else plot_curves(results, args.figure)
    print(text)
    if any(math.isnan(r["test_accuracy"]) for runs in results.values() for r in runs.values()):
        print("warning: some runs have no test accuracy")


def refuse_hand_edits(params_file: Path, profile: str) -> None:
    """A study composes every run from the profile, `--set` and the seed, so a value set in params.yaml by hand
    (`semisup params profile=study data.source=X`) would be dropped without a word: refuse it, naming the keys."""
    import tempfile

    import yaml

    from ..params import compose
    from ..typed import read_params_file

    current = read_params_file(params_file, "the project root (where dvc.yaml is)")
    with tempfile.TemporaryDirectory() as tmp:
        compose(Path(tmp) / "params.yaml", Path("conf"), [f"profile={profile}"])
        composed = yaml.safe_load((Path(tmp) / "params.yaml").read_text())

    def flat(node: object, prefix: str = "") -> dict[str, object]:
        if not isinstance(node, dict):
            return {prefix[:-1]: node}
        return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}

    mine, profile_values = flat(current), flat(composed)
    changed = [k for k in sorted(set(mine) | set(profile_values)) if k != "seed" and mine.get(k) != profile_values.get(k)]
    if changed:
        shown = ", ".join(f"{k}={mine.get(k)}" for k in changed[:3]) + (" ..." if len(changed) > 3 else "")
        raise ConfigError(f"params.yaml differs from profile {profile!r} in {shown}: a study composes every run from the "
                          f"profile and would drop them; pass them as --set {changed[0]}={mine.get(changed[0])} (or "
                          f"`semisup params profile={profile}` to run the profile as it is)")
