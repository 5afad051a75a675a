"""What `benchmarks/gpu.py` runs on: the prepared data folder, versions, the device and its peaks.

``../shared`` does not travel to the device, so `prepare` copies what the run needs into a
folder git ignores (``.gpu-data/``, carried with the run): SqueezeNet v1.1's caffemodel and
the 100 shared ImageNet pictures warped to SqueezeNet's 227×227 input (JPEG, quality 95, about
2.7 MB; the table's timing does not depend on the pixels), with a manifest naming the commit.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import pathlib
import platform
import shutil
import subprocess

import jax
import numpy as np

import common
from jaxinv.images import atomic_write_bytes

SQUEEZENET = pathlib.Path("weights") / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel"
PICTURES = pathlib.Path("data") / "imagenet100"
TABLE_SIZE = (227, 227)
#: What the device tool takes: tracked and untracked-not-ignored files plus the carried folder.
TRAVEL_LIMIT = 64 * 2 ** 20
#: Datasheet peaks (dense, TFLOP/s) by the device name JAX and torch report. Source: NVIDIA's
#: H200 datasheet (nvidia.com/en-us/data-center/h200): H200 SXM FP32 67, "TF32 Tensor Core 989"
#: with sparsity (so 494.5 dense); H200 NVL FP32 60, TF32 835 with sparsity (417.5 dense).
PEAKS = {
    "NVIDIA H200": {"fp32_tflops": 67.0, "tf32_tflops": 494.5,
                    "source": "NVIDIA H200 datasheet, H200 SXM: FP32 67 TFLOPS; TF32 Tensor Core 989 TFLOPS"
                              " with sparsity, halved for dense"},
    "NVIDIA H200 NVL": {"fp32_tflops": 60.0, "tf32_tflops": 417.5,
                        "source": "NVIDIA H200 datasheet, H200 NVL: FP32 60 TFLOPS; TF32 Tensor Core 835 TFLOPS"
                                  " with sparsity, halved for dense"},
}
ENVIRONMENT_VARIABLES = ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                         "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES", "OMP_WAIT_POLICY")
PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin", "flax", "optax", "numpy", "torch",
            "scikit-image", "pillow")


def prepare(data: pathlib.Path, shared: pathlib.Path, *, repo: pathlib.Path) -> dict:
    """Copy the weights and pictures the device run needs into ``data``; print what will travel."""
    from PIL import Image

    source = shared / SQUEEZENET
    if not source.is_file():
        raise common.JaxinvError(f"{source} not found; pass --shared with the shared folder")
    (data / "pictures").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, data / source.name)
    for name, picture in common.load_image_set(str(shared / PICTURES), size=TABLE_SIZE):
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.round(picture), 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=95)
        atomic_write_bytes(data / "pictures" / f"{name}.jpg", buffer.getvalue())
    manifest = {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": bool(_git(repo, "status", "--porcelain")),
                "squeezenet_sha256": hashlib.sha256((data / source.name).read_bytes()).hexdigest(),
                "pictures": len(list((data / "pictures").glob("*.jpg"))), "picture_size": list(TABLE_SIZE)}
    atomic_write_bytes(data / "manifest.json", json.dumps(manifest, indent=1).encode())
    carried = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    travel = _tracked_bytes(repo) + carried
    print(f"prepared {data}: {manifest['pictures']} pictures, SqueezeNet weights ({carried / 2**20:.1f} MiB),"
          f" commit {manifest['commit'][:12]}{' (uncommitted changes)' if manifest['dirty'] else ''}")
    print(f"the device run sends the working tree and {data.name}: about {travel / 2**20:.1f} MiB"
          f"{'' if travel <= TRAVEL_LIMIT else ' — OVER the device tool limit of 64 MiB; ignore or untrack files first'}")
    return manifest


def _git(repo: pathlib.Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _tracked_bytes(repo: pathlib.Path) -> int:
    files = _git(repo, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    return sum((repo / f).stat().st_size for f in files if (repo / f).is_file())


class Data:
    """The prepared folder, falling back to ``shared`` (and to scikit-image's photographs)."""

    def __init__(self, folder: pathlib.Path, shared: pathlib.Path):
        self.folder, self.shared = folder, shared

    def manifest(self) -> dict:
        path = self.folder / "manifest.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def squeezenet_path(self) -> pathlib.Path | None:
        for path in (self.folder / SQUEEZENET.name, self.shared / SQUEEZENET):
            if path.is_file():
                return path
        return None

    def squeezenet_blobs(self) -> dict | None:
        """The real SqueezeNet weights, or None (the checks then use random ones)."""
        from jaxinv.weights import read_blobs

        path = self.squeezenet_path()
        return None if path is None else read_blobs(path, network="squeezenet1_1")

    def pictures(self, count: int) -> tuple[list[tuple[str, np.ndarray]], str]:
        """``count`` pictures at 227×227 and where they come from (repeated when there are fewer)."""
        for folder, source in ((self.folder / "pictures", "prepared imagenet100"),
                               (self.shared / PICTURES, "shared imagenet100")):
            if folder.is_dir() and any(folder.iterdir()):
                items = common.load_image_set(str(folder), size=TABLE_SIZE, limit=count)
                break
        else:
            items, source = common.load_image_set(None, size=TABLE_SIZE), "scikit-image photographs"
        repeated = []
        for i in range(count):  # a picture seen again gets a name of its own
            name, picture = items[i % len(items)]
            repeated.append((name if i < len(items) else f"{name}-{i // len(items)}", picture))
        return repeated, source


def versions(with_torch: bool) -> dict:
    import jaxinv

    out = {"python": platform.python_version(), "jaxinv_from": str(pathlib.Path(jaxinv.__file__).parent)}
    for name in PACKAGES:
        if name == "torch" and not with_torch:
            continue
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def nvidia_smi() -> str | None:
    query = "name,driver_version,memory.total,clocks.max.sm,power.limit"
    try:
        done = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def environment(data: Data, *, with_torch: bool) -> dict:
    device = jax.devices()[0]
    out = {"versions": versions(with_torch), "backend": jax.default_backend(),
           "device_kind": getattr(device, "device_kind", str(device)), "device_count": jax.device_count(),
           "memory_stats": device.memory_stats(), "nvidia_smi": nvidia_smi(), "machine": platform.machine(),
           "data": data.manifest(), "date_utc": _utc_now(),
           "variables": {k: os.environ.get(k) for k in ENVIRONMENT_VARIABLES}}
    if with_torch:
        import torch

        out["torch_cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            out["torch_device"] = {"name": props.name, "total_memory": props.total_memory,
                                   "multiprocessors": props.multi_processor_count}
    return out


def _utc_now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def peaks(env: dict, *, fp32: float | None, tf32: float | None) -> dict:
    """The peaks the fractions use: the datasheet's for the device's name, or the given ones."""
    name = env.get("torch_device", {}).get("name") or env["device_kind"]
    out = dict(PEAKS.get(name, {"fp32_tflops": None, "tf32_tflops": None, "source": f"no datasheet entry for {name!r}"}))
    out["device"] = name
    if fp32 is not None or tf32 is not None:
        out.update(fp32_tflops=fp32 or out["fp32_tflops"], tf32_tflops=tf32 or out["tf32_tflops"],
                   source="given on the command line")
    return out
