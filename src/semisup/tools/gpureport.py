"""The GPU check's figures as text, without PyTorch: the closing table of a run (`summary`), the README's tables
rebuilt from committed `gpu-check.json` files (`gpu-check report`, so no figure there is typed by hand), and the
published pipeline's time extrapolated from a run."""
from __future__ import annotations

from typing import Any

METHODS = ("baseline", "gan")  # registered methods the check trains, the supervised reference first


def report_markdown(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """The GPU figures of docs/speed.md, rebuilt from committed `gpu-check.json` files (one per device call):
    the tests, every bench row, and each trained recipe with the published pipeline's extrapolated time."""
    lines = []
    for name, r in runs:
        env = r["environment"]
        lines.append(f"- `{name}`: {env['device']}, torch {env['torch']}, torchvision {env['torchvision']}, CUDA "
                     f"{env['cuda']}, DALI {'installed' if env['dali'] else 'absent'}; "
                     + "; ".join(f"{k} {'ok' if s['ok'] else 'FAILED'} ({s['seconds']:.0f} s)"
                                 for k, s in r["steps"].items()))
        t = r["steps"].get("tests", {}).get("result")
        if t:
            failed = ", ".join(t.get("failed") or []) or "none"
            lines.append(f"  - `gpu` tests: {t['tests']} collected, {t['skipped']} skipped, failed: {failed}")
        for k, s in r["steps"].items():
            if not s["ok"]:
                lines.append(f"  - {k} failed: `{s['error'].splitlines()[0][:160]}`")
    lines += ["", "| run | size | what | variant | median ms | images/s | measured / floor | note |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in runs:
        b = r["steps"].get("bench", {}).get("result")
        for row in (b or {}).get("rows", []):
            if row["what"] == "matmul":
                continue
            ratio = "–" if row["ratio"] is None else f"{row['ratio']:.1f}"
            lines.append(f"| {name} | {row['size']} | {row['what']} | {row['variant']} | {row['median_ms']:,.1f} | "
                         f"{row['images_per_s']:,.0f} | {ratio} | {row['note']} |")
    lines += ["", "| run | recipe | switches | method | steps | ms/step | best val acc (step) | GAN epoch, 35,000 "
              "unlabelled | published pipeline, extrapolated |", "|" + " --- |" * 9]
    for name, r in runs:
        for k, s in r["steps"].items():
            if not (k.startswith("train") and s["ok"]):
                continue
            res = s["result"]
            switches = ", ".join(f"{a}.{b}={v}" for a, sub in res["overrides"].items() for b, v in sub.items()) or "–"
            for method in METHODS:
                m = res[method]
                # the baseline's "epoch" is one step; the GAN's is a pass of steps / validations steps
                every = 1 if method == "baseline" else m["steps"] // max(len(m["val_curve"]), 1)
                epoch = f"{m['epoch_35k_s']:,.0f} s" if "epoch_35k_s" in m else "–"
                pipe = f"{pipeline_minutes(res):.0f} min" if method == "gan" else "–"
                lines.append(f"| {name} | {k[6:]} | {switches} | {method} | {m['steps']} | {m['step_ms']:.1f} | "
                             f"{m['val_accuracy']:.1%} ({m['best_epoch'] * every}) | {epoch} | {pipe} |")
    return "\n".join(lines) + "\n"


def pipeline_minutes(r: dict[str, Any], gan_epochs: int = 100, baseline_steps: int = 200,
                     scale_val: float = 2.0) -> float:
    """The published pipeline's training on one GPU, extrapolated from a run's measured figures: 100 GAN epochs over
    35,000 unlabelled photos and 200 baseline steps validated after every step. Each validation costs what it cost
    in the run (wall time outside the training steps: validation, checkpoint, grid, per validation), times
    `scale_val` for 1,000 validation photos instead of the run's 500 (an upper bound: checkpoints do not grow).
    Data preparation and the test pass are not included."""
    def per_validation(m: dict[str, Any]) -> float:
        return (m["wall_seconds"] - m["train_seconds"]) / max(len(m["val_curve"]), 1)

    gan, base = r["gan"], r["baseline"]
    gan_s = gan_epochs * (gan["epoch_35k_s"] + scale_val * per_validation(gan))
    base_s = baseline_steps * (base["step_ms"] / 1000 + scale_val * per_validation(base))
    return (gan_s + base_s) / 60


def summary(report: dict[str, Any]) -> str:
    """The closing table: what passed, the speed figures against the targets, the training figures."""
    env, steps = report["environment"], report["steps"]
    lines = [f"\nGPU check on {env['device']} (torch {env['torch']}, CUDA {env['cuda']}, DALI "
             f"{'yes' if env['dali'] else 'no'}), {report.get('seconds', 0):.0f} s"]
    for name, s in steps.items():
        lines.append(f"  {name}: {'ok' if s['ok'] else 'FAILED: ' + s['error'][:200]} ({s['seconds']} s)")
    t = steps.get("tests", {}).get("result")
    if t:
        lines.append(f"tests: {t.get('tests', '?')} run, {t.get('failures', '?')} failed, {t.get('errors', '?')} "
                     f"errors, {t.get('skipped', '?')} skipped {t.get('failed') or ''}")
    b = steps.get("bench", {}).get("result")
    if b:
        for r in b["rows"]:
            if r["what"] == "GAN epoch":
                lines.append(f"bench {r['size']} px GAN epoch ({r['variant']}): {r['median_ms'] / 1000:,.1f} s for "
                             f"35,000 unlabelled, {r['images_per_s']:,.0f} img/s, measured/floor "
                             f"{r['ratio']:.1f} (target <= 5)")
    lines.append("| recipe | method | steps | ms/step | images/s | best val acc | GAN epoch @35k | paper pipeline |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, s in steps.items():
        if not name.startswith("train") or not s["ok"]:
            continue
        r = s["result"]
        for method in METHODS:
            m = r[method]
            epoch = f"{m['epoch_35k_s']:,.0f} s" if "epoch_35k_s" in m else "–"
            pipe = f"{r['paper_pipeline_min']:.1f} min (target <= 30)" if method == "gan" else "–"
            lines.append(f"| {name[6:]} | {method} | {m['steps']} | {m['step_ms']:.1f} | {m['images_per_s']:,.0f} | "
                         f"{m['val_accuracy']:.3f} ({r['val']} val) | {epoch} | {pipe} |")
    return "\n".join(lines) + "\n"
