"""Which device a run uses: "auto", "cpu" or "cuda" to a torch device, with one clear line where none is usable."""
from pathlib import Path

import pytest
import torch

from semisup.data.unlabeled_stream import UnlabeledStream
from semisup.device import resolve_device
from semisup.errors import PipelineError

CPU = torch.device("cpu")


def test_resolve_device(tmp_path: Path) -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PipelineError, match="not a device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(PipelineError, match="no CUDA GPU"):
            resolve_device("cuda")
        from PIL import Image

        for i in range(4):
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(tmp_path / f"{i}.jpg")
        with pytest.raises(PipelineError, match="no CUDA GPU"):  # the loaders ask the same question
            UnlabeledStream(tmp_path, 16, 2, torch.device("cuda"))
