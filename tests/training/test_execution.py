"""Execution switches and data-parallel ranks: torchrun's environment, channels_last, and two real gloo processes
whose DDP-averaged GAN steps keep both replicas identical while each reads its own batch."""
from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from semisup.parameters import params_from_dict
from semisup.errors import PipelineError
from semisup.training.execution import Execution, Ranks, all_ranks_mean, ranks_from_env
from semisup.models import Classifier

SIZE = 32


def test_ranks_from_torchrun_environment():
    assert ranks_from_env({}) == Ranks(0, 1, 0) and not Ranks().distributed
    r = ranks_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (r.rank, r.world_size, r.local_rank, r.distributed, r.is_main) == (3, 4, 1, True, False)
    with pytest.raises(PipelineError, match="RANK 4 is outside 0..3"):
        ranks_from_env({"WORLD_SIZE": "4", "RANK": "4"})
    with pytest.raises(PipelineError, match="must be integers"):
        ranks_from_env({"WORLD_SIZE": "two"})


def test_autocast_only_on_cuda_and_channels_last_placement():
    t = params_from_dict({"train": {"amp": True, "channels_last": True}}).train
    exe = Execution.from_config(t, torch.device("cpu"))
    assert exe.amp is False  # bf16 autocast is a CUDA switch; the CPU keeps fp32
    model = exe.place(Classifier())
    assert model.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert exe.images(torch.rand(2, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    assert exe.trainable(model) is model  # one rank, no compile: the module itself
    assert all_ranks_mean(torch.tensor(3.0), Ranks()).item() == 3.0


def test_compiled_networks_get_one_static_graph_per_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """`train.compile` traces what the GAN's published passes feed one classifier (batches of 10 and 8, then 8 with
    gradients to the images, as the generator's update) as static graphs, never one with a symbolic batch (the
    path of the 2026-12-04 stride failure on CUDA), and trains as eager does. Inductor's kernels and cuDNN are the
    GPU's part (tests/tools/test_gpu.py); here dynamo and AOT autograd run with the `aot_eager` backend."""
    from torch import nn

    real_compile, graphs, options = torch.compile, [], []

    def recording(gm, example_inputs):
        graphs.append(sum(isinstance(x, torch.SymInt) for x in example_inputs))
        return torch._dynamo.lookup_backend("aot_eager")(gm, example_inputs)

    def compile_(module, **kwargs):
        options.append(kwargs)
        return real_compile(module, backend=recording, **kwargs)

    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

    def step(model: nn.Module, exe: Execution) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(1)
        lab, unl, fake = (torch.rand(n, 3, 8, 8, generator=g) for n in (10, 8, 8))
        fake.requires_grad_(True)
        run = exe.trainable(exe.place(model))
        loss = sum(run(exe.images(x)).logsumexp(1).mean() for x in (lab, unl, fake.detach()))
        loss.backward()
        run(exe.images(fake)).logsumexp(1).mean().backward()
        return [p.grad for p in model.parameters()] + [fake.grad]

    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", compile_)
    compiled = step(net(), Execution(torch.device("cpu"), channels_last=True, compile=True))
    eager = step(net(), Execution(torch.device("cpu"), channels_last=True))
    assert options == [{"dynamic": False}] and graphs == [0, 0, 0]  # 10, 8, 8 with gradients: three static graphs
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    torch._dynamo.reset()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, results) -> None:
    import os

    from semisup.training.contract import Unlabeled, LabeledData
    from semisup.methods.sgan import SemiSupervisedGan

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        params = params_from_dict({"image_size": SIZE, "gan": {"batch_size": 4, "generator_width": 8}})
        exe = Execution.from_config(params.train, torch.device("cpu"), Ranks(rank, 2, rank))
        g = torch.Generator().manual_seed(0)
        x_l, y_l = torch.rand(6, 3, SIZE, SIZE, generator=g), torch.tensor([0, 1] * 3)
        gan = SemiSupervisedGan(params, exe, LabeledData(x_l, y_l, x_l, y_l), Unlabeled(lambda r: iter(()), 1))
        mine = torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(10 + rank))  # its own shard
        for _ in range(2):
            out = gan.step((x_l, y_l, mine))
        results[rank] = {"classifier": {k: v.clone() for k, v in gan.classifier.state_dict().items()},
                         "generator": {k: v.clone() for k, v in gan.generator.state_dict().items()},
                         "real_loss": out["real_loss"].item(),
                         "mean": all_ranks_mean(out["real_loss"], exe.ranks).item()}
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_ranks_stay_in_sync_while_reading_their_own_batches():
    results = mp.Manager().dict()
    mp.spawn(_rank, args=(_free_port(), results), nprocs=2, join=True)
    a, b = results[0], results[1]
    for net in ("classifier", "generator"):
        weights = [k for k, v in a[net].items() if v.is_floating_point() and "running" not in k]
        assert all(torch.equal(a[net][k], b[net][k]) for k in weights), net  # gradients were averaged across ranks
    assert a["real_loss"] != b["real_loss"]  # each rank saw its own unlabelled batch
    assert a["mean"] == pytest.approx((a["real_loss"] + b["real_loss"]) / 2, rel=1e-6) == b["mean"]
