"""Stage `rings` of the two-rings demonstration (see README.md): every method on every seed, metrics and figures.

    cd demos/rings && dvc repro        # or: python rings.py
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from semisup.cli import run_stage
from rings_figures import write_figures
from rings_params import load_rings_params
from rings_training import run_demo

HERE = Path(__file__).resolve().parent


def main() -> None:
    params = load_rings_params(HERE / "params.yaml")
    start = time.perf_counter()
    metrics, data, results = run_demo(params)
    paths = write_figures(data, results, params, HERE / "plots")
    metrics["seconds_total"] = round(time.perf_counter() - start, 2)
    (HERE / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    for name in params.methods:
        acc = metrics[name]["accuracy"]
        print(f"{name:>12}: test accuracy {acc['mean']:.3f} ± {acc['std']:.3f} over seeds {params.seeds}")
    print(f"wrote metrics.json and {', '.join(str(p.relative_to(HERE)) for p in paths)} "
          f"in {metrics['seconds_total']:.1f} s")


if __name__ == "__main__":
    run_stage(main)
