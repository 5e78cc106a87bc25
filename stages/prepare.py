"""Stage `prepare`: the Kaggle download (or the stand-in data) -> data/manifest.csv and val/test/pool/test1 folders.

    python stages/prepare.py        # as run by `dvc repro`; reads params.yaml
"""
import tempfile
from pathlib import Path

from semisup.cli import run_stage
from semisup.parameters import load_shared_params
from semisup.labels.curated_list import read_curated
from semisup.data.ingest import prepare, summarize

DATA = Path("data")


def main() -> None:
    params = load_shared_params()
    curated = Path(params.labeled.curated_file)
    # Curated photos are never drawn into val/test, whatever strategy this run uses, so switching strategy keeps the split.
    reserved = {item.key for item in read_curated(curated)} if curated.is_file() else set()
    with tempfile.TemporaryDirectory() as tmp:
        source = params.data.source
        if params.is_synthetic:
            from semisup.data.synthetic import write_synthetic_zip

            source = write_synthetic_zip(params.data.synthetic, params.data.split_seed, Path(tmp) / "synthetic-dogs-vs-cats.zip")
        d = params.data
        records = prepare(source, DATA, d.val_size, d.test_size, d.split_seed, reserved)
    print(f"prepare: {len(records)} input files from {params.data.source}: {summarize(records)}")


if __name__ == "__main__":
    run_stage(main)
