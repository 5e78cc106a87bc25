"""Stage `evaluate`: each model's best-validation checkpoint is run once on the test set.

    python stages/evaluate.py      # metrics/<method>.json for every registered method, metrics/summary.json (numbers only, what DVC compares),
                                   # metrics/provenance.json and plots/confusion/*.csv
                                   # (training seconds: models/<method>.timing.json, beside each model; untracked)
"""
import json
import math
from pathlib import Path

from semisup.artifacts import load_model
from semisup.cli import run_stage
from semisup.parameters import default_params, load_params
from semisup.scoring import evaluate
from semisup.data.labeled_loader import load_labeled
from semisup.device import resolve_device
from semisup.methods import BASELINE, names, semi_supervised
from semisup.evaluation.reporting import method_metrics, write_confusion, write_json
from semisup.provenance import model_provenance

def main() -> None:
    params = load_params()
    device = resolve_device(params.train.device)
    test_sets = {}  # image size -> the test photos at that size, decoded once
    results, provenance = {}, {}
    for method in names():
        model, meta = load_model(Path(f"models/{method}.pt"), device)
        size = meta["image_size"]  # what the model was trained at, from its own file
        if size not in test_sets:
            test_sets[size] = load_labeled(Path("data/test"), size, device, num_threads=params.loader.num_threads)
        x_test, y_test = test_sets[size]
        test = evaluate(model, x_test, y_test, params.loader.eval_batch_size, params.train.amp)
        results[method] = method_metrics(meta, test)
        provenance[method] = model_provenance(meta, default_params())
        write_json(Path(f"metrics/{method}.json"), results[method])
        write_confusion(Path(f"plots/confusion/{method}.csv"), y_test.tolist(), test.probabilities.argmax(1).tolist())
        print(f"{method}: test accuracy {test.accuracy:.4f} on {test.count} images "
              f"(best validation epoch {meta['train']['best_epoch']})")
        if results[method]["test_loss_absurd"]:
            print(f"warning: {method}: test loss {test.loss:.4g} is absurd for {len(test.confusion)} classes (chance: "
                  f"{math.log(len(test.confusion)):.2f}); its eval-mode BatchNorm statistics are probably broken "
                  "(try train.recalibrate_bn or train.ema): do not trust its accuracy")
    base = results[BASELINE]
    gain = {m: results[m]["test_accuracy"] - base["test_accuracy"] for m in semi_supervised()}
    write_json(Path("metrics/summary.json"), {  # one row to compare runs by: names unique across the metrics files,
        **{m: results[m]["test_accuracy"] for m in names()},  # so `dvc exp show` prints them without file prefixes
        # each semi-supervised method minus the baseline, a fraction like the accuracies ("gain" is the GAN's)
        **{("gain" if m == "gan" else f"gain_{m}"): round(g, 6) for m, g in gain.items()},
    })
    source = json.loads(Path("data/source.json").read_text()) if Path("data/source.json").is_file() else {}
    write_json(Path("metrics/provenance.json"), {
        **{k: v for k, v in provenance[BASELINE].items() if k != "recipe"},  # the same for every method
        "data_sha256": source.get("sha256", source.get("source", "unknown")),  # what data.source held (stages/source.py)
        "recipe": {m: provenance[m]["recipe"] for m in names()},
    })
    print("gain over the baseline: " + ", ".join(f"{m} {100 * g:+.2f} points" for m, g in gain.items()))


if __name__ == "__main__":
    run_stage(main)
