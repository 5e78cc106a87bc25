"""`semisup bench`: how fast the pipeline runs on this machine, against the hardware's floor.

    semisup bench                                    # 64 and 224 px, whatever device is present
    semisup bench --sizes 64 --data data/unlabeled --out metrics/bench.json

Per image size it times, after warm-up, as medians (CUDA events on a GPU, the wall clock on the CPU):

* data loading alone: images/s of the DALI stream (GPU nvJPEG decoding where present, and CPU decoding) and of the
  decode-once stream (`loader.decode: once`), over JPEGs in `--data` (default: `data/unlabeled` when `dvc repro`
  made it, else stand-in JPEGs at 200 px written to a temporary folder);
* a baseline step (the 100 labelled images, one SGD step) and a GAN step (`methods.sgan.SemiSupervisedGan.step`: the classifier's
  passes and update, then the generator's), as published (fp32, three passes) and with the fast path
  (`train.amp`, `train.channels_last`, one real pass; `--compile` adds `torch.compile`);
* a GAN epoch: the real loader feeding the step for `--epoch-steps` steps, extrapolated to one pass over the
  unlabelled set (`--unlabeled`, the published ~35,000), or measured in full with `--full-epoch`.

The FLOP floor of a step is its counted FLOPs (`torch.utils.flop_counter`, forward and backward) divided by the
device's measured dense matmul rate (bf16 on a GPU, fp32 on the CPU); the table gives measured / floor.
The table is printed and written as JSON (default `metrics/bench.json`).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from ..parameters import params_from_dict
from ..training.execution import Execution
from ..files import write_text
from ..data.dali_graph import dali_available
from ..data.folders import unlabeled_files
from ..data.unlabeled_stream import UnlabeledStream
from ..device import resolve_device

if TYPE_CHECKING:
    from ..data.decoded import DecodedStream

LABELED, BATCH = 100, 64  # the published labelled set and unlabelled/generated batch
PUBLISHED_UNLABELED = 35_000
VARIANTS = {  # name -> (train.* and gan.* overrides)
    "published": ({"amp": False, "channels_last": False, "compile": False}, {"passes": "separate"}),
    "fast": ({"amp": True, "channels_last": True, "compile": False}, {"passes": "real_joint"}),
    "fast+compile": ({"amp": True, "channels_last": True, "compile": True}, {"passes": "real_joint"}),
}


@dataclass
class Row:
    size: int
    what: str  # loader | baseline step | GAN step | GAN epoch | matmul
    variant: str
    median_ms: float
    images_per_s: float | None = None
    floor_ms: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.floor_ms in (None, 0) else self.median_ms / self.floor_ms


# ------------------------------------------------------------------------------------------------------ measuring


def timed(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds per call after `warmup` calls: CUDA events on a GPU (no host sync inside the timed region)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        pairs = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            pairs.append((start, end))
        torch.cuda.synchronize(device)
        return [s.elapsed_time(e) / 1000 for s, e in pairs]
    out = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def matmul_rate(device: torch.device) -> float:
    """Dense matmul FLOP/s this device reaches (bf16 on a GPU, fp32 on the CPU): the floor's denominator."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    seconds = statistics.median(timed(lambda: a @ b, device, 3, 10))
    return 2 * n ** 3 / seconds


def counted_flops(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# ----------------------------------------------------------------------------------------------------------- cases


def _params(size: int, variant: str, device: torch.device):
    train, gan = VARIANTS[variant]
    return params_from_dict({"image_size": size, "train": {**train, "device": device.type, "deterministic": False},
                             "gan": gan})


def _random_data(size: int, device: torch.device):
    """Labelled and validation tensors of random pixels, as the training stage holds them on the device."""
    from ..training.contract import LabeledData

    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(LABELED, 3, size, size, device=device, generator=g)
    y = torch.randint(0, 2, (LABELED,), device=device, generator=g)
    return LabeledData(x, y, x, y), g


@dataclass
class GanCase:
    """The GAN method object the training stage runs, and fixed labelled and unlabelled batches of random pixels."""

    gan: object
    exe: Execution
    x_labeled: torch.Tensor
    y_labeled: torch.Tensor
    x_unlabeled: torch.Tensor

    def step(self, x_unlabeled: torch.Tensor | None = None) -> dict:
        return self.gan.step((self.x_labeled, self.y_labeled, self.x_unlabeled if x_unlabeled is None else x_unlabeled))


def gan_case(size: int, variant: str, device: torch.device) -> GanCase:
    from ..training.contract import Unlabeled
    from ..methods.sgan import SemiSupervisedGan

    params = _params(size, variant, device)
    exe = Execution.from_config(params.train, device)
    data, g = _random_data(size, device)
    gan = SemiSupervisedGan(params, exe, data, Unlabeled(lambda round_: iter(()), 10 ** 4))
    return GanCase(gan, exe, data.x_labeled, data.y_labeled,
                   torch.rand(BATCH, 3, size, size, device=device, generator=g))


def baseline_step(size: int, variant: str, device: torch.device) -> Callable[[], object]:
    """The baseline method's own step (one SGD step on the whole labelled set), on random pixels."""
    from ..methods.baseline import Baseline

    params = _params(size, variant, device)
    data, _ = _random_data(size, device)
    baseline = Baseline(params, Execution.from_config(params.train, device), data)
    batch = (data.x_labeled, data.y_labeled)
    return lambda: baseline.step(batch)


def stream(folder: Path, size: int, device: torch.device, decode: str, threads: int, cache: Path,
           max_batches: int = 0) -> UnlabeledStream | DecodedStream:
    """The unlabelled stream `train_gan` would read: DALI decoding every epoch, or decode once. Without DALI
    (`decode` "once (torchvision)") the decode-once stream is filled by torchvision's decoder."""
    if decode.startswith("once"):
        from ..data import tvdecode
        from ..data.decoded import DecodedStream
        from ..data.dali_graph import decode_files

        decoder = tvdecode.decode_files if decode == "once (torchvision)" else decode_files
        return DecodedStream(folder, size, BATCH, device, threads, seed=0, cache_dir=cache, max_batches=max_batches,
                             decoder=decoder)
    return UnlabeledStream(folder, size, BATCH, device, threads, seed=0, max_batches=max_batches)


def decoders(device: torch.device, dali: bool) -> list[tuple[str, torch.device, str]]:
    """Loader rows: (row name, where it decodes, `stream` decode mode). Without DALI only torchvision's decoder
    (nvJPEG on a GPU) fills the decode-once stream, and the row says so."""
    if not dali:
        return [("decode once (torchvision)", device, "once (torchvision)")]
    rows = [("gpu decode", device, "every_epoch")] if device.type == "cuda" else []
    return rows + [("cpu decode", torch.device("cpu"), "every_epoch"), ("decode once", device, "once")]


def loader_rate(s: UnlabeledStream | DecodedStream, device: torch.device, epochs: int = 2) -> float:
    """Images/s of whole epochs of the stream (the first epoch, which builds the pipeline or the cache, excluded)."""
    list(s.epoch(0))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    began, n = time.perf_counter(), 0
    for e in range(1, epochs + 1):
        for x in s.epoch(e):
            n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n / (time.perf_counter() - began)


def stand_in_jpegs(folder: Path, count: int) -> Path:
    """`count` stand-in JPEGs at 200 px (the mini set's size) when no real unlabelled folder is at hand."""
    from ..data.synthetic import jpeg_bytes, render_image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:05d}.jpg").write_bytes(jpeg_bytes(render_image(0, 2, i % 2, i, 200)))
    return folder


# ------------------------------------------------------------------------------------------------------------ run


def run_bench(sizes: list[int], device: torch.device, data: Path, variants: list[str], warmup: int, repeats: int,
              epoch_steps: int, unlabeled: int, full_epoch: bool, threads: int, cache: Path) -> tuple[list[Row], dict]:
    rows: list[Row] = []
    torch.backends.cudnn.benchmark = True  # the steps run with `train.deterministic: false`: cuDNN picks its fastest
    rate = matmul_rate(device)
    rows.append(Row(0, "matmul", "bf16" if device.type == "cuda" else "fp32", 0.0, note=f"{rate / 1e12:.2f} TFLOP/s"))
    files = len(unlabeled_files(data))
    dali = dali_available()
    for size in sizes:
        for name, where, decode in decoders(device, dali):
            s = stream(data, size, where, decode, threads, cache)
            ips = loader_rate(s, where)
            rows.append(Row(size, "loader", name, 1000 * BATCH / ips, ips, note=f"{files} JPEGs, batches of {BATCH}"))
        for variant in variants:
            step = baseline_step(size, variant, device)
            flops = counted_flops(step)
            med = statistics.median(timed(step, device, warmup, repeats))
            rows.append(Row(size, "baseline step", variant, 1000 * med, LABELED / med, 1000 * flops / rate,
                            note=f"{flops / 1e9:.0f} GFLOP"))
            case = gan_case(size, variant, device)
            flops = counted_flops(case.step)
            med = statistics.median(timed(case.step, device, warmup, repeats))
            rows.append(Row(size, "GAN step", variant, 1000 * med, BATCH / med, 1000 * flops / rate,
                            note=f"{flops / 1e9:.0f} GFLOP per {BATCH} unlabelled"))
            decode = ("every_epoch" if variant == "published" else "once") if dali else "once (torchvision)"
            per_step, measured = gan_epoch_step(case, data, size, device, decode, warmup,
                                                0 if full_epoch else epoch_steps, threads, cache)
            steps = measured + warmup if full_epoch else -(-unlabeled // BATCH)
            note = (f"the whole folder ({steps} steps)" if full_epoch else
                    f"{measured} steps with the loader, extrapolated to {unlabeled:,} unlabelled ({steps} steps)")
            if not dali:
                note += "; DALI absent: decode once by torchvision"
            rows.append(Row(size, "GAN epoch", variant, 1000 * per_step * steps, BATCH / per_step,
                            1000 * flops / rate * steps, note=note))
    meta = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "device_type": device.type, "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
            "matmul_tflops": rate / 1e12, "data": str(data), "unlabeled_for_epoch": unlabeled,
            "decoder": "DALI" if dali else "torchvision (DALI absent)"}
    return rows, meta


def gan_epoch_step(case: GanCase, data: Path, size: int, device: torch.device, decode: str, warmup: int,
                   steps: int, threads: int, cache: Path) -> tuple[float, int]:
    """Seconds per step of the loader feeding the step, as `train_gan` runs them (published: JPEG decoding every
    epoch; the fast path: decode once), over `steps` steps after `warmup` (0: the rest of the folder)."""
    s = stream(data, size, device, decode, threads, cache, max_batches=0 if steps == 0 else warmup + steps)
    batches = s.epoch(0)
    for _, x in zip(range(warmup), batches):
        case.step(case.exe.images(x))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    began, n = time.perf_counter(), 0
    for x in batches:
        case.step(case.exe.images(x))
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if n == 0:
        raise RuntimeError(f"{data}: too few JPEGs for {warmup} warm-up steps and one timed step of {BATCH}")
    return (time.perf_counter() - began) / n, n


def render(rows: list[Row], meta: dict) -> str:
    lines = [f"bench on {meta['device']} ({meta['device_type']}, torch {meta['torch']}, "
             f"{meta['cpu_threads']} CPU threads), dense matmul {meta['matmul_tflops']:.2f} TFLOP/s",
             "| size | what | variant | median ms | images/s | FLOP floor ms | measured / floor | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r.what == "matmul":
            continue
        cell = lambda v, f: "–" if v is None else format(v, f)  # noqa: E731
        lines.append(f"| {r.size} px | {r.what} | {r.variant} | {r.median_ms:,.1f} | {cell(r.images_per_s, ',.0f')} | "
                     f"{cell(r.floor_ms, ',.1f')} | {cell(r.ratio, '.1f')} | {r.note} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224], help="image sizes (default 64 224)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of JPEGs for the loader (default data/unlabeled, else stand-in JPEGs)")
    parser.add_argument("--variants", nargs="+", default=["published", "fast"], choices=sorted(VARIANTS))
    parser.add_argument("--compile", action="store_true", help="add the fast+compile variant (minutes to compile)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--epoch-steps", type=int, default=20, help="steps timed for the GAN epoch (extrapolated)")
    parser.add_argument("--full-epoch", action="store_true", help="time the whole folder as the GAN epoch")
    parser.add_argument("--unlabeled", type=int, default=PUBLISHED_UNLABELED, help="unlabelled images per epoch")
    parser.add_argument("--threads", type=int, default=4, help="DALI CPU threads")
    parser.add_argument("--out", type=Path, default=Path("metrics/bench.json"))


def run(args: argparse.Namespace) -> None:
    from ..errors import PipelineError

    device = resolve_device(args.device)
    variants = args.variants + (["fast+compile"] if args.compile and "fast+compile" not in args.variants else [])
    for size in args.sizes:
        if size % 8 or size < 32:
            raise PipelineError(f"--sizes: {size} is not allowed; use multiples of 8 from 32 (the generator's sides)")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path("data/unlabeled") if Path("data/unlabeled").is_dir() else stand_in_jpegs(Path(tmp) / "jpegs", 512)
        rows, meta = run_bench(args.sizes, device, data, variants, args.warmup, args.repeats, args.epoch_steps,
                               args.unlabeled, args.full_epoch, args.threads, Path(tmp) / "cache")
    text = render(rows, meta)
    print(text, end="")
    write_text(args.out, json.dumps({**meta, "rows": [{**asdict(r), "ratio": r.ratio} for r in rows]}, indent=2) + "\n")
    print(f"wrote {args.out}")
