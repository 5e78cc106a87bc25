"""What only a GPU can check: nvJPEG decoding, bf16 autocast, channels_last and `torch.compile` against the plain
path, NCCL, the decode-once cache on the device. Every test is `gpu`-marked and skipped without CUDA; the GPU check
(`semisup gpu-check`) runs them on a lent machine, where DALI may be absent (those tests skip, saying so).

Tolerances follow what each precision can promise: fp32 and TF32 convolutions within 1e-3 relative, bf16 within a
few per cent, decoders within 1% of the pixel range on average.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semisup.data import tvdecode
from semisup.parameters import params_from_dict
from semisup.training.execution import Execution, Ranks, all_ranks_mean, join_ranks, leave_ranks
from semisup.data.dali_graph import dali_available
from semisup.models import Classifier

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    out, ref = out.detach().double(), ref.detach().double()
    return float((out - ref).norm() / ref.norm())


@pytest.fixture
def jpegs(tmp_path: Path) -> list[Path]:
    """12 JPEGs of varied sizes with smooth, distinct content (a decoder that mixes them up fails)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        h, w = 48 + 8 * i, 64 + 4 * (11 - i)
        yy, xx = np.mgrid[0:h, 0:w]
        base = rng.uniform(0, 255, 3)
        img = np.stack([(base[c] + 80 * np.sin(xx / (5 + i) + c) + 40 * np.cos(yy / 7)) % 256 for c in range(3)], -1)
        path = tmp_path / f"{i:03d}.jpg"
        Image.fromarray(img.astype(np.uint8)).save(path, quality=92)
        paths.append(path)
    return paths


def test_torchvision_gpu_decode_matches_the_cpu(jpegs: list[Path]) -> None:
    gpu = tvdecode.decode_files(jpegs, 64, CUDA, batch_size=5)
    cpu = tvdecode.decode_files(jpegs, 64, CPU, batch_size=5)
    assert gpu.shape == cpu.shape == (12, 3, 64, 64) and gpu.dtype == torch.uint8
    # torchvision's nvJPEG upsamples chroma without libjpeg-turbo's "fancy" filter (DALI asks for it): on these
    # strongly coloured stripes that is 2.9 of 255 on average (measured on an H200); a swapped or misplaced image
    # would be tens. Real photos differ less.
    assert float((gpu.float() - cpu.float()).abs().mean()) < 5.1


@pytest.mark.skipif(not dali_available(), reason="DALI is not installed here (carry its wheels: gpu-check plan)")
def test_dali_gpu_decode_matches_the_cpu_and_torchvision(jpegs: list[Path]) -> None:
    from semisup.data.dali_graph import decode_files

    gpu = decode_files(jpegs, 64, CUDA, batch_size=5)
    cpu = decode_files(jpegs, 64, CPU, batch_size=5)
    assert float((gpu.float() - cpu.float()).abs().mean()) < 2.55  # both with libjpeg-turbo's chroma upsampling
    assert float((cpu.float() - tvdecode.decode_files(jpegs, 64, CPU).float()).abs().mean()) < 2.55


def test_decode_once_stream_lives_on_the_gpu_and_matches_the_cpu(tmp_path: Path, jpegs: list[Path]) -> None:
    from semisup.data.decoded import DecodedStream

    def epoch(device: torch.device) -> torch.Tensor:
        s = DecodedStream(jpegs[0].parent, 32, 4, device, seed=3, augment=True, cache_dir=tmp_path / device.type,
                          decoder=tvdecode.decode_files)
        return torch.cat([x.clone() for x in s.epoch(1)])

    on_gpu = epoch(CUDA)
    assert on_gpu.device.type == "cuda" and on_gpu.shape == (12, 3, 32, 32)
    assert float((on_gpu.cpu() - epoch(CPU)).abs().mean()) < 0.01  # same order, crops and flips on both devices


def _gan_step_losses(amp: bool, channels_last: bool, compile: bool, steps: int = 3, passes: str = "separate",
                     labeled: int = 16) -> list[dict[str, float]]:
    from semisup.training.contract import Unlabeled, LabeledData
    from semisup.methods.sgan import SemiSupervisedGan

    params = params_from_dict({"image_size": 64, "gan": {"passes": passes},
                               "train": {"amp": amp, "channels_last": channels_last, "compile": compile,
                                         "deterministic": False}})
    exe = Execution.from_config(params.train, CUDA)
    g = torch.Generator(device=CUDA).manual_seed(1)
    x_lab = torch.rand(labeled, 3, 64, 64, device=CUDA, generator=g)
    y_lab = torch.randint(0, 2, (labeled,), device=CUDA, generator=g)
    x_unl = torch.rand(16, 3, 64, 64, device=CUDA, generator=g)
    gan = SemiSupervisedGan(params, exe, LabeledData(x_lab, y_lab, x_lab, y_lab), Unlabeled(lambda r: iter(()), 1))
    return [{k: v.item() for k, v in gan.step((x_lab, y_lab, x_unl)).items()} for _ in range(steps)]


def test_bf16_gan_steps_give_finite_losses_close_to_fp32() -> None:
    fp32, bf16 = _gan_step_losses(False, False, False), _gan_step_losses(True, False, False)
    for a, b in zip(fp32, bf16):
        assert all(np.isfinite(v) for v in b.values()), b
    # the first step starts from the same weights: its losses agree to bf16's precision
    for key in ("supervised_loss", "real_loss", "fake_loss"):
        assert abs(fp32[0][key] - bf16[0][key]) <= 0.05 * abs(fp32[0][key]) + 0.02, (key, fp32[0], bf16[0])


@pytest.mark.parametrize("passes", [
    "real_joint",
    pytest.param("separate", marks=pytest.mark.xfail(strict=False, reason=(
        "seen on an H200, torch 2.11, 2026-12-04, when compile traced a symbolic batch: the compiled channels_last "
        "classifier fed labelled, unlabelled and generated batches of different sizes failed in convolution_backward "
        "(stride assertion at layer4); the bench's real_joint step ran. Compile now traces one static graph per "
        "batch size (Execution.compiled); drop this mark once it passes on a GPU"))),
])
def test_compiled_channels_last_bf16_gan_steps_train(passes: str) -> None:
    """What `train.compile` + `train.channels_last` + `train.amp` run in the GAN's training: batches of 20, 16 and 16."""
    for losses in _gan_step_losses(True, True, True, passes=passes, labeled=20):
        assert all(np.isfinite(v) for v in losses.values()), losses


@pytest.fixture
def no_tf32():
    """Plain fp32 arithmetic for comparisons (TF32 convolutions are cuDNN's default; they differ near 1e-3)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("compile", [False, True], ids=["channels_last", "channels_last+compile"])
def test_fast_path_forward_and_gradients_match_the_plain_path(compile: bool, no_tf32) -> None:
    torch.manual_seed(0)
    plain, fast = Classifier().to(CUDA), Classifier().to(CUDA)
    fast.load_state_dict(plain.state_dict())
    exe = Execution(CUDA, channels_last=True, compile=compile)
    run = exe.trainable(exe.place(fast))
    x = torch.rand(8, 3, 64, 64, device=CUDA)
    ref, out = plain(x), run(exe.images(x))
    assert relative_error(out, ref) < 1e-3
    ref.square().sum().backward()
    out.square().sum().backward()
    # gradients cross all 18 layers back to conv1 through kernels that differ per layout: 5e-3 was measured for
    # eager channels_last on an H200 (a wrong layout or stride gives errors of order 1)
    assert relative_error(fast.net.conv1.weight.grad, plain.net.conv1.weight.grad) < 1e-2
    assert relative_error(fast.net.fc.weight.grad, plain.net.fc.weight.grad) < 1e-3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_nccl_available(), reason="this PyTorch has no NCCL")
def test_nccl_with_one_rank_averages_and_runs_ddp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    ranks = Ranks(0, 1, 0)
    # one rank is not "distributed" for the pipeline; initialise NCCL directly as torchrun's rank 0 would
    torch.distributed.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda", 0))
    try:
        value = torch.tensor(3.0, device=CUDA)
        torch.distributed.all_reduce(value)
        assert value.item() == 3.0
        assert all_ranks_mean(value, Ranks(0, 1, 0)).item() == 3.0
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 2).to(CUDA), device_ids=[0])
        model(torch.rand(3, 4, device=CUDA)).sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    finally:
        leave_ranks()
    join_ranks(ranks, CUDA)  # a single rank joins nothing: the pipeline's one-GPU path never needs NCCL
    assert not torch.distributed.is_initialized()
    assert os.environ["MASTER_ADDR"] == "127.0.0.1"
