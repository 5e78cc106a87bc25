"""The benchmark on the CPU at 32 px: every row present, FLOPs counted as the step's arithmetic says, JSON written.
No timing is asserted (timings are the benchmark's output, not a test)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from semisup.tools import bench
from semisup.models import Classifier


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> Path:
    return bench.stand_in_jpegs(tmp_path_factory.mktemp("jpegs"), 3 * bench.BATCH)


def test_counted_flops_follow_the_step(jpegs):
    model = Classifier()
    forward = bench.counted_flops(lambda: model(torch.rand(bench.LABELED, 3, 32, 32)))
    baseline = bench.counted_flops(bench.baseline_step(32, "published", torch.device("cpu")))
    # backward costs two forwards (input and weight gradients), except the first convolution's input gradient
    assert 2.8 * forward < baseline <= 3.0 * forward
    gan = bench.counted_flops(bench.gan_case(32, "published", torch.device("cpu")).step)
    # 100 labelled + 64 unlabelled + 64 generated (forward and backward) + 64 generated again, plus the generator
    assert gan > baseline * (100 + 64 + 64 + 64) / 100


def test_bench_writes_every_row_and_the_json(jpegs, tmp_path, capsys):
    args = argparse.Namespace(sizes=[32], device="cpu", data=jpegs, variants=["published", "fast"], compile=False,
                              warmup=0, repeats=1, epoch_steps=1, full_epoch=False, unlabeled=35_000, threads=2,
                              out=tmp_path / "bench.json")
    bench.run(args)
    printed = capsys.readouterr().out
    assert "| 32 px | GAN step | fast |" in printed and "extrapolated to 35,000 unlabelled (547 steps)" in printed
    result = json.loads((tmp_path / "bench.json").read_text())
    kinds = {(r["what"], r["variant"]) for r in result["rows"]}
    assert {("loader", "cpu decode"), ("loader", "decode once"), ("baseline step", "published"),
            ("GAN step", "fast"), ("GAN epoch", "published"), ("GAN epoch", "fast")} <= kinds
    assert result["device_type"] == "cpu" and result["matmul_tflops"] > 0
    step = next(r for r in result["rows"] if r["what"] == "GAN step" and r["variant"] == "fast")
    assert step["floor_ms"] > 0 and step["ratio"] == pytest.approx(step["median_ms"] / step["floor_ms"])


def test_a_size_the_generator_cannot_make_is_refused(tmp_path):
    from semisup.errors import PipelineError

    args = argparse.Namespace(sizes=[100], device="cpu", data=None, variants=["fast"], compile=False, warmup=1,
                              repeats=1, epoch_steps=1, full_epoch=False, unlabeled=1, threads=1, out=tmp_path / "b.json")
    with pytest.raises(PipelineError, match="--sizes: 100"):
        bench.run(args)
