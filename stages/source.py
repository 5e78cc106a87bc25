"""Stage `source`: the data source's content fingerprint (data/source.json), so that a new archive at the same path
re-runs `prepare` and everything after it. The archive (or folder) named by `data.source` is this stage's dependency,
so DVC re-runs it when the content changes and `dvc status` stays clean otherwise (DVC rehashes a file only when its
size or mtime changed). `data.source: synthetic` names the file `synthetic` at the root, which only has to exist.

    python stages/source.py         # as run by `dvc repro`; reads data.source from params.yaml
"""
import json
import time
from pathlib import Path

from semisup.cli import run_stage
from semisup.parameters import load_shared_params
from semisup.files import write_text
from semisup.data.sources import fingerprint_source


def main() -> None:
    params = load_shared_params()
    began = time.perf_counter()
    fingerprint = fingerprint_source(params.data.source)
    write_text(Path("data/source.json"), json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")
    if "sha256" in fingerprint:
        print(f"source: {params.data.source}: {fingerprint['bytes'] / 1e6:,.1f} MB in {fingerprint['files']} file(s), "
              f"sha256 {fingerprint['sha256'][:16]}… ({time.perf_counter() - began:.1f} s)")
    else:
        print("source: the stand-in data (identified by data.synthetic.* and the generator's code)")


if __name__ == "__main__":
    run_stage(main)
