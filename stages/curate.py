"""Stage `curate`: choose the labelled set (labeled.strategy) from the pool; the rest, unlabelled, joins Kaggle's test1.

    python stages/curate.py         # as run by `dvc repro`; writes data/labeled/, data/unlabeled/, data/labeled.csv
"""
from pathlib import Path

from semisup.cli import run_stage
from semisup.parameters import load_shared_params
from semisup.labels.curation import choose_curated, choose_random, read_pool, write_labeled_sets

DATA = Path("data")


def main() -> None:
    params = load_shared_params()
    lab = params.labeled
    pool = read_pool(DATA / "pool")
    if lab.strategy == "random":
        choices = choose_random(pool, lab.size, params.seed)
    elif lab.strategy == "curated":
        choices = choose_curated(pool, lab.size, params.seed, Path(lab.curated_file), lab.on_missing)
    else:
        from semisup.labels.representative import choose_representative

        choices = choose_representative(pool, lab.size, params.seed)
    counts = write_labeled_sets(choices, pool, DATA / "test1", DATA)
    print(f"curate ({lab.strategy}, seed {params.seed}): {counts}")


if __name__ == "__main__":
    run_stage(main)
