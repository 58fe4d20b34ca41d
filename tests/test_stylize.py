"""Neural style transfer (`ganforge stylize`, `ganforge.style_transfer`, the `stylize` lesson) with a seeded
random-weight VGG19: the losses against their closed forms, all three falling under optimisation, the command end
to end, and every bad input as one line with exit code 2. Nothing is downloaded."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.style_transfer import (CONTENT_LAYER, EXAMPLES_DIR, STYLE_LAYERS, VGG19_FILE, VGG19_URL, Settings,
                                     VGGFeatures, content_loss, gram_matrix, outputs_of, random_vgg19_state,
                                     stylize, total_variation)

CONTENT = str(EXAMPLES_DIR / "content.png")
STYLE = str(EXAMPLES_DIR / "style.png")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread: these tensors are too small to share, and on a busy machine a second thread only waits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    return random_vgg19_state(seed=0)


# A VGG19 cut after conv3_1 keeps the optimisation tests fast; the command and the lesson run the paper's layers.
SHALLOW = Settings(content_layer="conv2_2", style_layers=("conv1_1", "conv2_1", "conv3_1"))


@pytest.fixture(scope="module")
def features(vgg_state) -> VGGFeatures:
    return VGGFeatures(vgg_state, (CONTENT_LAYER, *STYLE_LAYERS))


@pytest.fixture(scope="module")
def shallow_features() -> VGGFeatures:
    return VGGFeatures(random_vgg19_state(seed=0, layers="conv3_1"), (SHALLOW.content_layer, *SHALLOW.style_layers))


@pytest.fixture(scope="module")
def weights_file(vgg_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "random-vgg19.pth"
    torch.save(vgg_state, path)
    return path


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    """A torch hub cache without the VGG19 weights, whatever this machine's cache holds."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints" / VGG19_FILE


def test_gram_matrix_is_f_f_transposed_over_c_h_w():
    # two channels over two positions: F = [[1, 2], [3, 4]]
    responses = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 * 1 + 2 * 2, 1 * 3 + 2 * 4], [3 * 1 + 4 * 2, 3 * 3 + 4 * 4]]]) / (2 * 1 * 2)
    torch.testing.assert_close(gram_matrix(responses), expected)
    batch = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    by_hand = torch.stack([torch.stack([torch.stack([(f[i] * f[j]).sum() for j in range(3)]) for i in range(3)])
                           for f in batch]) / (3 * 4 * 5)
    torch.testing.assert_close(gram_matrix(batch), by_hand)


def test_total_variation_is_zero_for_a_constant_image_and_the_mean_step_otherwise():
    assert total_variation(torch.full((1, 3, 8, 8), 0.37)).item() == 0.0
    columns = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # no vertical change, a step of 1 across every row
    assert total_variation(columns).item() == pytest.approx(1.0)


def test_content_loss_is_the_mean_squared_difference():
    a, b = torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2, 2), 3.0)
    assert content_loss(a, a).item() == 0.0
    assert content_loss(a, b).item() == pytest.approx(9.0)


def test_features_are_taken_after_relu_and_stop_at_the_deepest_layer(features):
    found = features(torch.rand(1, 3, 32, 32))
    assert set(found) == {CONTENT_LAYER, *STYLE_LAYERS}
    assert all(f.min() >= 0 for f in found.values())
    assert found["conv5_1"].shape == (1, 512, 2, 2)
    assert len(features.layers) == 30  # conv1_1 .. relu5_1, nothing deeper is computed


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_all_three_losses_fall(shallow_features, optimizer):
    generator = torch.Generator().manual_seed(1)
    content = F.avg_pool2d(torch.rand(1, 3, 32, 32, generator=generator), 5, 1, 2)[0]
    style = torch.rand(3, 32, 32, generator=generator)
    steps = []
    settings = Settings(steps=8, optimizer=optimizer, content_layer=SHALLOW.content_layer,
                        style_layers=SHALLOW.style_layers)
    result = stylize(shallow_features, content, style, settings,
                     on_step=lambda step, losses, image: steps.append(step))
    assert steps == list(range(1, 9)) and len(result.history) == 9
    for name in ("content", "style", "tv", "total"):
        assert getattr(result.end, name) < getattr(result.start, name), name
    assert result.image.shape == (3, 32, 32) and 0 <= result.image.min() and result.image.max() <= 1


def test_a_loss_that_stops_being_finite_is_one_line(shallow_features):
    broken = torch.full((3, 16, 16), float("nan"))
    settings = Settings(steps=2, content_layer=SHALLOW.content_layer, style_layers=SHALLOW.style_layers)
    with pytest.raises(GanforgeError, match="diverged at step 1"):
        stylize(shallow_features, broken, torch.rand(3, 16, 16), settings)


def test_stylize_command_writes_the_result_the_steps_and_the_losses(weights_file, tmp_path, capsys):
    out = tmp_path / "result.png"
    code = main(["stylize", CONTENT, STYLE, "--out", str(out), "--weights", str(weights_file), "--size", "32",
                 "--steps", "2", "--every", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    paths = outputs_of(out)
    assert Image.open(out).size == (32, 21)  # the content's 192x128, longer side 32
    assert sorted(p.name for p in paths["steps"].iterdir()) == ["step_000001.png", "step_000002.png"]
    assert paths["plot"].is_file()
    history = json.loads(paths["losses"].read_text())["history"]
    assert len(history) == 3
    assert "style image 128x128 resized to 32x21" in captured.err


def test_weights_come_from_the_hub_cache_and_download_through_torchvision(vgg_state, empty_hub, tmp_path,
                                                                          monkeypatch):
    import torchvision.models._api

    fetched = []

    def fake_download(url, *args, **kwargs):  # what torchvision's weights API calls; no network in tests
        fetched.append(url)
        empty_hub.parent.mkdir(parents=True, exist_ok=True)
        torch.save(vgg_state, empty_hub)
        return vgg_state

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", fake_download)
    argv = ["stylize", CONTENT, STYLE, "--size", "24", "--steps", "1", "--every", "0", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a.png"), "--download"]) == 0
    assert fetched == [VGG19_URL] and empty_hub.is_file()
    assert main([*argv, "--out", str(tmp_path / "b.png")]) == 0  # found in the cache: nothing fetched
    assert fetched == [VGG19_URL] and (tmp_path / "b.png").is_file()


def _bad_weights(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    return ["--weights", str(path)]


def _wrong_shape(tmp_path):
    state = random_vgg19_state(seed=0)
    state["features.2.weight"] = state["features.2.weight"][:32]
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    return ["--weights", str(path)]


def _not_a_torch_file(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_text("not weights")
    return ["--weights", str(path)]


def _text_as_png(tmp_path):
    path = tmp_path / "photo.png"
    path.write_text("this is text")
    return [str(path)]


BAD = {  # case -> (arguments replacing CONTENT, or extra flags; words the one line must hold)
    "missing content": (lambda tmp: [str(tmp / "nowhere.png")], "content image", "does not exist"),
    "not an image": (_text_as_png, "content image", "not an image"),
    "missing weights": (lambda tmp: [], VGG19_FILE, "--download"),
    "missing weights file": (lambda tmp: ["--weights", str(tmp / "none.pth")], "does not exist", VGG19_FILE),
    "not VGG19 weights": (_bad_weights, "lack", VGG19_FILE),
    "a wrong shape": (_wrong_shape, "features.2.weight has shape (32, 64, 3, 3)", "(64, 64, 3, 3)"),
    "not a torch file": (_not_a_torch_file, "cannot read VGG19 weights", VGG19_FILE),
    "unknown init": (lambda tmp: ["--init", "zeros"], "unknown --init 'zeros'", "noise"),
    "unknown pool": (lambda tmp: ["--pool", "min"], "unknown --pool 'min'", "avg"),
    "size too small": (lambda tmp: ["--size", "8"], "--size", ">= 16"),
    "bad output name": (lambda tmp: ["--out", str(tmp / "result.txt")], "--out", ".png"),
}


def exit_code(argv: list[str]) -> int:
    """main's return code, or argparse's exit code for the flags it refuses itself."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(case, weights_file, empty_hub, tmp_path, capsys):
    make, *words = BAD[case]
    given = make(tmp_path)
    replaces_content = case in ("missing content", "not an image")
    content, flags = (given, []) if replaces_content else ([CONTENT], given)
    weights = [] if case == "missing weights" or "--weights" in flags else ["--weights", str(weights_file)]
    out = [] if "--out" in flags else ["--out", str(tmp_path / "out.png")]
    code = exit_code(["stylize", *content, STYLE, *out, *weights, *flags, "--steps", "1", "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert all(word in lines[0] for word in words), lines[0]
    if case == "missing weights":
        assert str(empty_hub) in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_lesson_runs_fast_and_says_it_used_a_random_network(empty_hub, tmp_path):
    from ganforge.lessons.stylize import run

    summary = run(tmp_path / "lesson", fast=True)
    assert (tmp_path / "lesson" / "stylize.png").is_file() and (tmp_path / "lesson" / "losses.png").is_file()
    assert Image.open(tmp_path / "lesson" / "stylize.png").size[0] > 3 * 40
    assert "random-weight VGG19" in summary and VGG19_FILE in summary
    assert "| style |" in summary and "after 12 steps" in summary
