"""Neural style transfer (Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR
2016): optimise the pixels of one image so that a pretrained VGG19 sees the content of one picture in it and the
style of another.

- **Content**: the mean squared difference between the image's and the content picture's responses at one deep
  layer (`conv4_2`, as the paper): deep layers keep the arrangement of objects and drop the exact pixels.
- **Style**: the mean squared difference between Gram matrices (channel-by-channel correlations of a layer's
  responses, averaged over positions) at `conv1_1` ... `conv5_1`, each layer weighted 1/5 as in the paper: the Gram
  matrix keeps which features occur together and forgets where, which is what "style" means here.
- **Total variation**: the mean absolute difference between neighbouring pixels, which removes the high-frequency
  noise the optimisation otherwise leaves.

Layer responses are taken after each ReLU (Caffe's in-place ReLU, which the paper used, overwrote the `convX_Y`
blobs); the max-pooling layers are replaced by average pooling, as the paper suggests ("improves the gradient flow
and one obtains slightly more appealing results"; `pool="max"` keeps torchvision's). The features come from
torchvision's VGG19 architecture with its ImageNet weights (`vgg19-dcbb9e9d.pth`), images normalised with the
ImageNet mean and standard deviation. Unlike the paper, the weights are not rescaled to a mean response of 1 per
filter, so the loss weights here are on another scale than its alpha and beta.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import GanforgeError
from .files import show

Tensor = torch.Tensor

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's file name for VGG19_Weights.IMAGENET1K_V1
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
MIN_SIDE = 16  # four poolings before conv5_1: a side of 16 pixels leaves conv5_1 one position
EXAMPLES_DIR = Path(__file__).parent / "style_transfer_examples"
POOLS: dict[str, Callable[[], nn.Module]] = {
    "avg": lambda: nn.AvgPool2d(kernel_size=2, stride=2),
    "max": lambda: nn.MaxPool2d(kernel_size=2, stride=2),
}


# ------------------------------------------------------------------------------------------------ the losses
def gram_matrix(features: Tensor) -> Tensor:
    """(N, C, H, W) responses -> (N, C, C) Gram matrices F F^T / (C H W): which channels fire together, wherever
    they fire, scaled so that layers of different sizes weigh alike."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference between the image's responses and the content picture's at one layer."""
    return F.mse_loss(features, target)


def style_loss(features: Sequence[Tensor], target_grams: Sequence[Tensor],
               layer_weights: Sequence[float] | None = None) -> Tensor:
    """Weighted sum over layers of the mean squared difference between Gram matrices (default weights 1/L, the
    paper's w_l = 1/5 for its five layers)."""
    if len(features) != len(target_grams):
        raise ValueError(f"{len(features)} feature maps for {len(target_grams)} target Gram matrices")
    weights = layer_weights if layer_weights is not None else [1.0 / len(features)] * len(features)
    return sum(w * F.mse_loss(gram_matrix(f), g) for w, f, g in zip(weights, features, target_grams))


def total_variation(image: Tensor) -> Tensor:
    """Mean absolute difference between vertically and between horizontally neighbouring pixels (0 for a constant
    image): the smoothness prior that removes the optimisation's pixel noise."""
    return ((image[..., 1:, :] - image[..., :-1, :]).abs().mean()
            + (image[..., :, 1:] - image[..., :, :-1]).abs().mean())


# ------------------------------------------------------------------------------------------------ the network
def vgg19_layer_names() -> list[str]:
    """Names of the layers of torchvision's `vgg19().features`, in order (conv1_1, relu1_1, conv1_2, ..., pool5)."""
    from torchvision.models.vgg import cfgs

    names, block, index = [], 1, 1
    for entry in cfgs["E"]:
        if entry == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


def _vgg19_layers(depth: int, pool: str) -> nn.Sequential:
    """torchvision's VGG19 feature layers up to `depth` (exclusive), their indices unchanged, pooling as `pool`;
    built without storage (on the meta device): their weights are always loaded after, so initialising them
    would be wasted time."""
    from torchvision.models.vgg import cfgs, make_layers

    if pool not in POOLS:
        raise GanforgeError(f"unknown --pool '{pool}'; choose from: {', '.join(POOLS)}")
    with torch.device("meta"):
        layers = make_layers(cfgs["E"])[:depth]
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.MaxPool2d):
            layers[i] = POOLS[pool]()
    return layers


class VGGFeatures(nn.Module):
    """Frozen VGG19 responses at named layers for images in [0, 1] (normalised here with the ImageNet statistics);
    the network stops at the deepest layer asked for. A response `convX_Y` is taken after its ReLU."""

    def __init__(self, state_dict: dict[str, Tensor], layers: Sequence[str], pool: str = "avg") -> None:
        super().__init__()
        names = vgg19_layer_names()
        unknown = [name for name in layers if not name.startswith("conv") or name not in names]
        if unknown:
            convs = [name for name in names if name.startswith("conv")]
            raise GanforgeError(f"unknown VGG19 layer(s) {', '.join(unknown)}; choose from: {', '.join(convs)}")
        self.taps = {names.index(name.replace("conv", "relu")): name for name in layers}
        self.layers = _vgg19_layers(max(self.taps) + 1, pool)
        _load_features(self.layers, state_dict)
        self.layers.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        x = (image - self.mean) / self.std
        found = {}
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.taps:
                found[self.taps[index]] = x
        return found


def _load_features(layers: nn.Sequential, state_dict: dict[str, Tensor]) -> None:
    """Copy torchvision's `features.<i>.weight/bias` into the truncated layers; anything else is ignored."""
    wanted = {f"features.{key}": key for key in layers.state_dict()}
    missing = [key for key in wanted if key not in state_dict]
    if missing:
        raise GanforgeError(f"the VGG19 weights lack {missing[0]} (and {len(missing) - 1} more); pass torchvision's "
                            f"{VGG19_FILE} or a state_dict of torchvision.models.vgg19()")
    own = layers.state_dict()
    for key, ours in wanted.items():
        if tuple(state_dict[key].shape) != tuple(own[ours].shape):
            raise GanforgeError(f"VGG19 weight {key} has shape {tuple(state_dict[key].shape)}, expected "
                                f"{tuple(own[ours].shape)}; these are not VGG19 weights (VGG16 or another net?)")
    layers.load_state_dict({ours: state_dict[key].float() for key, ours in wanted.items()}, assign=True)


def random_vgg19_state(seed: int = 0, layers: str = "conv5_1") -> dict[str, Tensor]:
    """A seeded random-weight VGG19 up to `layers`, in torchvision's layout: for tests, and for the lesson where the
    ImageNet weights are missing. Its losses fall as the real net's do, but what it calls style is not a painter's.
    Kaiming normal with fan in, not torchvision's fan out: that keeps the responses' scale through the 13 layers,
    where fan out shrinks them about 1000-fold (measured on 64 px images with average pooling)."""
    names = vgg19_layer_names()
    built = _vgg19_layers(names.index(layers) + 1, "max")
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for index, layer in enumerate(built):
        if isinstance(layer, nn.Conv2d):
            weight = torch.empty(layer.weight.shape)
            nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu", generator=generator)
            state[f"features.{index}.weight"] = weight
            state[f"features.{index}.bias"] = torch.zeros(layer.bias.shape)
    return state


# ------------------------------------------------------------------------------------------------ the weights
def hub_weights_path() -> Path:
    """Where torchvision's weights API keeps (and looks for) the ImageNet VGG19."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def locate_weights(explicit: str | Path | None = None, download: bool = False) -> Path:
    """The VGG19 weights file: `explicit`, else the torch hub cache; with `download`, fetched there by torchvision's
    weights API when missing. Without any, one line says which file to put where."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise GanforgeError(f"VGG19 weights file '{show(path)}' (from --weights) does not exist; pass the path of "
                                f"{VGG19_FILE} ({VGG19_URL})")
        return path
    hub = hub_weights_path()
    if hub.is_file():
        return hub
    if download:
        return download_weights()
    raise GanforgeError(f"no VGG19 weights: put torchvision's {VGG19_FILE} ({VGG19_URL}) at {show(hub)}, pass "
                        f"--weights PATH, or rerun with --download")


def download_weights() -> Path:
    """Fetch the ImageNet VGG19 into the torch hub cache through torchvision's own weights API (hash-checked)."""
    from torchvision.models import VGG19_Weights

    try:
        VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError) as exc:
        raise GanforgeError(f"could not download the VGG19 weights ({' '.join(str(exc).split())[:120]}); put "
                            f"{VGG19_FILE} from {VGG19_URL} at {show(hub_weights_path())} by hand") from None
    return hub_weights_path()


def load_weights(path: str | Path) -> dict[str, Tensor]:
    """A VGG19 state_dict of tensors, read with `weights_only=True` (no pickled code runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickled code, not a torch file: all mean "not a plain state_dict"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GanforgeError(f"cannot read VGG19 weights '{show(path)}' as a state_dict of tensors ({first[:120]}); "
                            f"pass torchvision's {VGG19_FILE}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise GanforgeError(f"'{show(path)}' is not a state_dict of tensors; pass torchvision's {VGG19_FILE}")
    return state


# ------------------------------------------------------------------------------------------------ the images
def read_picture(path: str | Path, what: str) -> Tensor:
    """An image file as float RGB (3, H, W) in [0, 1]; a missing, unreadable or huge file is one line naming it."""
    from .inputs import ImageInput
    from .translate import read_source

    path = Path(path)
    if not path.is_file():
        state = "is a folder, not an image" if path.is_dir() else "does not exist"
        raise GanforgeError(f"{what} image '{show(path)}' {state}; pass a .png or .jpg file")
    try:
        pixels = read_source(path, ImageInput(channels=3, resolution=1))
    except GanforgeError as exc:
        raise GanforgeError(f"{what} image: {exc}") from None
    return pixels.float() / 255.0


def working_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(H, W) with the longer side `size`, the aspect kept; refused when the shorter side would fall below what the
    network's four poolings need."""
    scale = size / max(height, width)
    target = (max(1, round(height * scale)), max(1, round(width * scale)))
    if min(target) < MIN_SIDE:
        raise GanforgeError(f"at --size {size} the content image ({width}x{height}) would be {target[1]}x{target[0]}, "
                            f"thinner than the {MIN_SIDE} pixels VGG19 needs; raise --size or crop the image")
    return target


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """(3, H, W) in [0, 1] -> (3, *size), antialiased bilinear."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def to_uint8_image(image: Tensor) -> Tensor:
    """(3, H, W) in [0, 1] -> uint8, rounding to nearest."""
    return image.detach().mul(255).round().clamp(0, 255).to(torch.uint8).cpu()


def save_picture(image: Tensor, path: str | Path) -> Path:
    """One (3, H, W) image in [0, 1] as a PNG, written atomically."""
    from .sampling import make_grid_image, save_image

    return save_image(make_grid_image(to_uint8_image(image)[None], nrow=1, padding=0), Path(path))


def save_side_by_side(images: Sequence[Tensor], path: str | Path) -> Path:
    """Images of one size (content, style, result) in a row, as one PNG."""
    from .sampling import make_grid_image, save_image

    row = torch.stack([to_uint8_image(image) for image in images])
    return save_image(make_grid_image(row, nrow=len(images), padding=4), Path(path))


# ------------------------------------------------------------------------------------------------ the optimisation
INITS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "noise": lambda content, gen: torch.rand(content.shape, generator=gen).to(content.device),  # the paper's
    "content": lambda content, gen: content.clone(),  # converges in fewer steps; the content loss starts at 0
}
OPTIMIZERS: dict[str, Callable[[list[Tensor], float | None], torch.optim.Optimizer]] = {
    # one L-BFGS iteration (one loss evaluation) per step, no line search, as the paper's Torch/Caffe code ran it
    "lbfgs": lambda params, lr: torch.optim.LBFGS(params, lr=lr or 1.0, max_iter=1, history_size=50,
                                                  tolerance_grad=0.0, tolerance_change=0.0),
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr or 0.02),
}


@dataclass
class Settings:
    """What `stylize` optimises and how: the weights of the three losses, the starting image, the optimiser."""

    steps: int = 300
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 1.0
    init: str = "noise"
    optimizer: str = "lbfgs"
    lr: float | None = None  # default: 1 for L-BFGS, 0.02 for Adam
    seed: int = 0
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS

    def check(self) -> None:
        for name, table in (("init", INITS), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in table:
                raise GanforgeError(f"unknown --{name} '{getattr(self, name)}'; choose from: {', '.join(table)}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise GanforgeError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        if self.steps < 1:
            raise GanforgeError(f"--steps must be >= 1, got {self.steps}")


@dataclass
class Losses:
    """The three unweighted losses at one image, and their weighted sum (what is minimised)."""

    content: float
    style: float
    tv: float
    total: float


@dataclass
class Result:
    """The optimised image and the losses along the way (the start and the end are what a summary reports)."""

    image: Tensor  # (3, H, W) in [0, 1]
    history: list[Losses] = field(default_factory=list)  # history[k]: the losses at the image after k steps

    @property
    def start(self) -> Losses:
        return self.history[0]

    @property
    def end(self) -> Losses:
        return self.history[-1]


class Objective:
    """The paper's loss for one content and one style picture: their targets are computed once, here."""

    def __init__(self, features: VGGFeatures, content: Tensor, style: Tensor, settings: Settings) -> None:
        self.features, self.settings = features, settings
        with torch.no_grad():
            self.content_target = features(content[None])[settings.content_layer]
            found = features(style[None])
            self.style_targets = [gram_matrix(found[name]) for name in settings.style_layers]

    def __call__(self, image: Tensor) -> tuple[Tensor, Losses]:
        s = self.settings
        found = self.features(image[None])
        content = content_loss(found[s.content_layer], self.content_target)
        style = style_loss([found[name] for name in s.style_layers], self.style_targets)
        tv = total_variation(image)
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        return total, Losses(content.item(), style.item(), tv.item(), total.item())


def stylize(features: VGGFeatures, content: Tensor, style: Tensor, settings: Settings,
            on_step: Callable[[int, Losses, Tensor], None] | None = None) -> Result:
    """Optimise an image (3, H, W) in [0, 1] for `content`'s content and `style`'s style (the same size as the
    content, on the features' device). `on_step(step, losses, image)` is called after every step with the losses
    of the image it was given, for progress bars and intermediate images."""
    settings.check()
    objective = Objective(features, content, style, settings)
    generator = torch.Generator().manual_seed(settings.seed)
    image = INITS[settings.init](content, generator).requires_grad_(True)
    optimizer = OPTIMIZERS[settings.optimizer]([image], settings.lr)
    history: list[Losses] = []
    evaluated: list[Losses] = []  # what the closure measured during the current step

    def closure() -> Tensor:
        optimizer.zero_grad()
        total, losses = objective(image)
        if not math.isfinite(losses.total):
            raise GanforgeError(f"the optimisation diverged at step {len(history) + 1} (the loss is not finite); "
                                f"lower --style-weight or --lr, or use --optimizer adam")
        total.backward()
        evaluated.append(losses)
        return total

    for step in range(1, settings.steps + 1):
        evaluated.clear()
        optimizer.step(closure)
        history.append(evaluated[0])
        with torch.no_grad():
            image.clamp_(0, 1)
        if on_step is not None:
            on_step(step, evaluated[0], image.detach())
    with torch.no_grad():
        history.append(objective(image)[1])
    return Result(image.detach(), history)


def plot_losses(history: Sequence[Losses], path: str | Path, settings: Settings) -> Path:
    """The three weighted losses and their sum against the step, log scale, as one PNG."""
    import matplotlib

    from .utils import atomic_write_bytes

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = range(len(history))
    curves = (("content", settings.content_weight), ("style", settings.style_weight), ("tv", settings.tv_weight))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, weight in curves:
        if weight > 0:
            ax.plot(steps, [weight * getattr(h, name) for h in history], label=f"{weight:g} x {name}", linewidth=1.2)
    ax.plot(steps, [h.total for h in history], label="total", color="black", linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"style transfer losses ({settings.optimizer}, init {settings.init})")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def prepare_pictures(content_path: str | Path, style_path: str | Path, size: int,
                     say: Callable[[str], None] = print) -> tuple[Tensor, Tensor]:
    """Both pictures read and brought to the working size: the content's longer side `size`, the style resized to
    the content's size (Gram matrices compare alike only at a like scale), which `say` reports."""
    content = read_picture(content_path, "content")
    style = read_picture(style_path, "style")
    target = working_size(*content.shape[-2:], size)
    content = resize(content, target)
    if tuple(style.shape[-2:]) != target:
        say(f"style image {style.shape[-1]}x{style.shape[-2]} resized to {target[1]}x{target[0]} (the content's "
            f"working size)")
        style = resize(style, target)
    return content, style


def outputs_of(out: str | Path) -> dict[str, Path]:
    """Where a run of `ganforge stylize --out OUT.png` writes: the result, its losses (plot and JSON), its steps."""
    out = Path(out)
    stem = out.with_suffix("")
    return {"image": out, "plot": Path(f"{stem}-losses.png"), "losses": Path(f"{stem}-losses.json"),
            "steps": Path(f"{stem}-steps")}


def build_features(weights: str | Path, pool: str = "avg", settings: Settings | None = None) -> VGGFeatures:
    """The VGG19 of the weights file `weights`, cut at the deepest layer the settings use."""
    settings = settings or Settings()
    return VGGFeatures(load_weights(weights), (settings.content_layer, *settings.style_layers), pool)


def stylize_files(content_path: str | Path, style_path: str | Path, out: str | Path, settings: Settings,
                  size: int = 256, every: int = 50, weights: str | Path | None = None, download: bool = False,
                  device: str = "auto", pool: str = "avg", progress: bool = True) -> Result:
    """`ganforge stylize`: read both pictures, optimise, write the result, the loss plot and JSON and every
    `every`-th step's image. Everything the user can get wrong (paths, weights, names) fails before the first
    step."""
    import sys

    from .data.folder import IMAGE_SUFFIXES
    from .utils import atomic_write_json, ensure_writable_dir, resolve_device

    paths = outputs_of(out)
    if paths["image"].suffix.lower() not in IMAGE_SUFFIXES:
        raise GanforgeError(f"--out '{show(out)}' must end in .png, .jpg or .webp")
    settings.check()
    target_device = resolve_device(device, "--device")
    weights_path = locate_weights(weights, download)
    notes: list[str] = []  # said once every input has been checked: an error stays the only line
    content, style = prepare_pictures(content_path, style_path, size, say=notes.append)
    features = build_features(weights_path, pool, settings).to(target_device)
    for note in notes:
        print(note, file=sys.stderr)
    ensure_writable_dir(paths["image"].parent)
    if every:
        ensure_writable_dir(paths["steps"], "folder for the intermediate images")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=settings.steps, unit="step", dynamic_ncols=True, file=sys.stderr)

    def on_step(step: int, losses: Losses, image: Tensor) -> None:
        if bar is not None:
            bar.set_postfix(content=f"{losses.content:.3g}", style=f"{losses.style:.3g}", tv=f"{losses.tv:.3g}",
                            refresh=False)
            bar.update(1)
        if every and step % every == 0:
            save_picture(image, paths["steps"] / f"step_{step:06d}.png")

    try:
        result = stylize(features, content.to(target_device), style.to(target_device), settings, on_step)
    finally:
        if bar is not None:
            bar.close()
    save_picture(result.image, paths["image"])
    plot_losses(result.history, paths["plot"], settings)
    atomic_write_json(paths["losses"], {"settings": {**asdict(settings), "size": size, "pool": pool},
                                        "history": [asdict(h) for h in result.history]})
    start, end = result.start, result.end
    print(f"losses from step 0 to {settings.steps}: content {start.content:.4g} -> {end.content:.4g}, style "
          f"{start.style:.4g} -> {end.style:.4g}, tv {start.tv:.4g} -> {end.tv:.4g}")
    print(f"wrote {show(paths['image'])}, {show(paths['plot'])} and {show(paths['losses'])}"
          + (f"; every {every} steps in {show(paths['steps'])}/" if every else ""))
    return result
