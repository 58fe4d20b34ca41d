"""StarGAN: the multi-domain datasets, the domain-conditioned networks, target domains, eval and translate."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.config import ModelConfig
from ganforge.configure import build_config
from ganforge.data import load_dataset
from ganforge.data.translation import MNIST_COLOURS, nearest_colour
from ganforge.errors import GanforgeError
from ganforge.models.registry import DISCRIMINATORS, GENERATORS
from ganforge.training.trainer import Trainer

TINY_STAR = ["model.g_width=4", "model.d_width=4", "model.g_blocks=1", "train.batch_size=4", "algorithm.n_critic=1"]


def test_mnist_colour_draws_every_class_in_every_colour():
    data = load_dataset("mnist-colour")
    assert data.domain_names == tuple(MNIST_COLOURS) and data.train["image"].shape == (4500, 3, 28, 28)
    palette = torch.tensor(list(MNIST_COLOURS.values()))
    assert torch.equal(nearest_colour(data.test["image"], palette), data.test["domain"])  # the rule defines them
    for domain in range(4):
        classes = data.train["label"][data.train["domain"] == domain]
        assert torch.bincount(classes, minlength=10).min() > 100


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_domains_folder_holds_out_a_tenth_of_each_domain(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("blond", 10), ("black", 20)):
        for i in range(count):
            write_png(tmp_path / name / f"{i}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    data = load_dataset(f"domains:{tmp_path}", resolution=8, channels=3)
    assert data.domain_names == ("black", "blond")
    assert torch.bincount(data.test["domain"]).tolist() == [2, 1]
    assert torch.bincount(data.train["domain"]).tolist() == [18, 9]
    (tmp_path / "brown").mkdir()
    write_png(tmp_path / "brown" / "0.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(GanforgeError, match="domain\\(s\\) brown hold fewer than 2 images"):
        load_dataset(f"domains:{tmp_path}", resolution=8, channels=3)
    with pytest.raises(GanforgeError, match="one sub-folder of images per domain"):
        load_dataset(f"domains:{tmp_path / 'black'}", resolution=8, channels=3)


def test_the_target_domain_steers_the_generator_and_d_has_two_heads():
    config = ModelConfig(resolution=28, channels=3, domains=["a", "b", "c"], g_width=4, g_blocks=1, d_width=4,
                         d_layers=3)
    g, d = GENERATORS.get("domain-translator")(config), DISCRIMINATORS.get("domain-patchgan")(config)
    image = torch.rand(2, 3, 28, 28) * 2 - 1
    g.eval()  # one target for the whole batch: in training mode batch norm would see it as a constant too
    first, second = g(image=image, domain=torch.tensor([0, 0])), g(image=image, domain=torch.tensor([1, 1]))
    assert first.shape == image.shape and (first - second).abs().max() > 1e-3  # erased: about 3e-6
    with pytest.raises(GanforgeError, match="erases the constant domain planes"):
        GENERATORS.get("domain-translator")(ModelConfig(channels=3, domains=["a", "b"], g_norm="instance"))
    source, domains = d(image)
    assert source.shape[:2] == (2, 1) and domains.shape == (2, 3)
    with pytest.raises(GanforgeError, match="at least two names"):
        GENERATORS.get("domain-translator")(ModelConfig(channels=3, domains=["a"]))


def test_every_image_goes_to_another_domain(tmp_path):
    config = build_config("mnist-stargan", overrides=[*TINY_STAR, "train.steps=1"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    own = torch.arange(1000) % 4
    assert (trainer.family.other_domains(own) != own).all()
    assert set(trainer.family.other_domains(own).tolist()) == {0, 1, 2, 3}


def test_domain_names_must_match_the_dataset(tmp_path):
    config = build_config("mnist-stargan", overrides=[*TINY_STAR, "model.domains=[red,green,blue,pink]"])
    with pytest.raises(GanforgeError, match=r"has domains red, green, blue, yellow.*model.domains=\[red,green"):
        Trainer(config, tmp_path / "run", quiet=True)
    with pytest.raises(GanforgeError, match="model.domains must name the dataset's domains"):
        build_config("mnist-stargan", overrides=["model.domains=[]"])


def test_eval_and_translate_a_tiny_stargan(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mnist-stargan", "--out", str(run), "--quiet",
                 *sum((["--set", o] for o in [*TINY_STAR, "train.steps=2", "train.checkpoint_every=2"]), [])]) == 0
    assert (run / "samples" / "step_000002.png").is_file()
    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert {"red_fid", "yellow_fid", "class_kept", "domain_accuracy"} <= set(metrics)
    assert 0 <= metrics["domain_accuracy"] <= 1
    inputs = tmp_path / "in"
    write_png(inputs / "x.png", np.zeros((30, 26, 3), dtype=np.uint8))
    assert main(["translate", str(run), "--input", str(inputs), "--out", str(tmp_path / "out"),
                 "--domain", "green"]) == 0
    assert (tmp_path / "out" / "x.png").is_file()
    capsys.readouterr()
    assert main(["translate", str(run), "--input", str(inputs), "--out", str(tmp_path / "out"),
                 "--domain", "purple"]) == 2
    assert "offers red, green, blue, yellow" in capsys.readouterr().err
