"""Semantic image synthesis (Pix2PixHD, SPADE): shapes-seg, labelmaps:DIR, the networks, mIoU, translate, eval."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import load_generator
from ganforge.cli import main
from ganforge.configure import build_config
from ganforge.data import load_dataset, random_crop_flip
from ganforge.data.shapes import SHAPE_CLASSES, draw_scenes
from ganforge.errors import GanforgeError
from ganforge.inputs import LabelMap
from ganforge.metrics.segmenter import HELD_OUT_MIOU, build_segmenter, mean_iou
from ganforge.metrics.extractors import ExtractorOptions
from ganforge.models import build_discriminator, build_generator
from ganforge.training.trainer import Trainer

TINY_32 = ["model.g_width=4", "model.d_width=4", "model.g_blocks=1", "train.batch_size=4", "model.d_layers=1",
           "eval.every=0"]
TINY = [*TINY_32, "model.resolution=16", "data.resize=true"]


def sets(*overrides: str) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


def write_pairs(root, count, size=(12, 12), classes=3, seed=0):
    """count label maps (mode L PNGs of class indices) and RGB images under root/labels and root/images."""
    rng = np.random.default_rng(seed)
    (root / "labels").mkdir(parents=True)
    (root / "images").mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, classes, size=size[::-1], dtype=np.uint8)).save(root / "labels" / f"{i}.png")
        pixels = rng.integers(0, 256, size=(*size[::-1], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"{i}.jpg" if i % 2 else root / "images" / f"{i}.png")


def test_shapes_seg_lays_out_textured_scenes_of_every_class():
    data = load_dataset("shapes-seg")
    assert data.paired and data.test_aligned and data.label_classes == len(SHAPE_CLASSES) == 4
    assert data.train["A"].shape == (4500, 1, 32, 32) and data.train["A"].dtype == torch.int64
    assert data.test["B"].shape == (500, 3, 32, 32) and data.test["B"].dtype == torch.uint8
    assert torch.bincount(data.test["A"].flatten()).gt(0).all()
    maps, images = draw_scenes(64, seed=5)
    again_maps, again_images = draw_scenes(64, seed=5)
    assert torch.equal(maps, again_maps) and torch.equal(images, again_images)  # the same set on every machine
    discs = maps[:, 0] == 1
    # one class, many looks: the per-scene texture makes disc pixels vary across scenes (an L1 model blurs them)
    disc_pixels = images.permute(0, 2, 3, 1)[discs].float()
    assert disc_pixels[:, 0].std() > 25  # red: stripes of random phase and shade


def test_labelmaps_folder_layouts_and_pair_jitter(tmp_path):
    write_pairs(tmp_path / "flat", 10)
    data = load_dataset(f"labelmaps:{tmp_path / 'flat'}", resolution=8, channels=3)
    assert data.train["A"].shape == (9, 1, 8, 8) and data.test["B"].shape == (1, 3, 8, 8)  # 10 % held out
    assert data.label_classes == 3 and data.train["A"].dtype == torch.int64
    for split in ("train", "test"):
        write_pairs(tmp_path / "hd" / "tmp", 3, seed=len(split))
        (tmp_path / "hd" / "tmp" / "labels").rename(tmp_path / "hd" / f"{split}_label")
        (tmp_path / "hd" / "tmp" / "images").rename(tmp_path / "hd" / f"{split}_img")
    data = load_dataset(f"labelmaps:{tmp_path / 'hd'}", resolution=12, channels=3)
    assert data.train["A"].shape[0] == data.test["A"].shape[0] == 3
    batch = {"A": torch.arange(64).view(1, 1, 8, 8).repeat(4, 1, 1, 1), "B": torch.zeros(4, 3, 8, 8, dtype=torch.uint8)}
    batch["B"][:, 0] = torch.arange(64).view(8, 8).to(torch.uint8)
    cropped = random_crop_flip(batch, (("A", "B"),), 6, True, torch.Generator().manual_seed(0))
    assert cropped["A"].shape == (4, 1, 6, 6) and torch.equal(cropped["A"][:, 0], cropped["B"][:, 0].long())


@pytest.mark.parametrize("problem, message", [
    ("missing", "no partner of the same name"),
    ("size", "must be the size of its image"),
    ("colour", "is a colour image"),
])
def test_labelmaps_folder_problems_are_named(tmp_path, problem, message):
    write_pairs(tmp_path, 4)
    if problem == "missing":
        (tmp_path / "images" / "2.png").unlink()
    elif problem == "size":
        Image.fromarray(np.zeros((5, 7), dtype=np.uint8)).save(tmp_path / "labels" / "2.png")
    else:
        Image.fromarray(np.dstack([np.zeros((12, 12), np.uint8), np.ones((12, 12), np.uint8),
                                   np.zeros((12, 12), np.uint8)])).save(tmp_path / "labels" / "2.png")
    with pytest.raises(GanforgeError, match=message):
        load_dataset(f"labelmaps:{tmp_path}", resolution=12, channels=3)


def test_label_maps_beyond_the_configured_classes_are_refused(tmp_path, capsys):
    write_pairs(tmp_path / "data", 6, classes=5)
    code = main(["train", "shapes-spade", "--out", str(tmp_path / "run"), "--quiet",
                 *sets(*TINY, "train.steps=1", f"data.dataset=labelmaps:{tmp_path / 'data'}")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "model.label_classes=5" in err
    with pytest.raises(GanforgeError, match="knows 4 classes"):
        LabelMap(4, 8).prepare(torch.full((1, 1, 8, 8), 4))


@pytest.mark.parametrize("generator", ["spade", "global-local"])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_label_map_generators_paint_every_size(generator, size):
    config = build_config("shapes-spade", overrides=["model.g_width=4", f"model.generator={generator}",
                                                     f"model.resolution={size}"]).model
    net = build_generator(config).eval()
    label_map = torch.randint(0, 4, (2, 1, size, size))
    with torch.no_grad():
        assert net(label_map=label_map).shape == (2, 3, size, size)
        assert net(label_map=torch.randint(0, 4, (1, 1, 21, 37))).shape == (1, 3, 21, 37)  # any size, cropped back


def test_multiscale_discriminator_judges_each_scale_and_exposes_features():
    import dataclasses

    config = build_config("shapes-spade", overrides=["model.d_width=4", "model.d_scales=3", "model.d_layers=1",
                                                     "model.resolution=64"]).model
    d = build_discriminator(dataclasses.replace(config, channels=7))
    logits = d(torch.randn(2, 7, 64, 64))
    assert [tuple(x.shape[-2:]) for x in logits] == [(30, 30), (14, 14), (6, 6)]
    features = d.features(torch.randn(2, 7, 64, 64))
    assert [len(scale) for scale in features] == [3, 3, 3]  # two LeakyReLU activations and the logits per scale
    with pytest.raises(GanforgeError, match="under 2x2"):
        build_discriminator(dataclasses.replace(config, channels=7, resolution=16, d_layers=3))


def test_mean_iou_by_hand_and_the_shipped_segmenter():
    truth = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 2]]).view(2, 1, 1, 4)
    predicted = torch.tensor([[0, 1, 1, 1], [0, 0, 2, 2]]).view(2, 1, 1, 4)
    # class 0: 3 / 4, class 1: 2 / 4 (3 truth, 3 predicted, 2 shared), class 2: 1 / 2
    assert mean_iou(predicted, truth, 3) == pytest.approx((3 / 4 + 2 / 4 + 1 / 2) / 3)
    data = load_dataset("shapes-seg")
    segmenter = build_segmenter(ExtractorOptions(device="cpu"))
    assert mean_iou(segmenter.segment(data.test["B"]), data.test["A"], 4) == pytest.approx(HELD_OUT_MIOU, abs=1e-4)
    assert HELD_OUT_MIOU > 0.99


def test_semantic_presets_refuse_settings_that_cannot_work():
    with pytest.raises(GanforgeError, match="direction=AtoB"):
        build_config("shapes-spade", overrides=["algorithm.direction=BtoA"])
    with pytest.raises(GanforgeError, match="label_classes"):
        build_config("shapes-pix2pixhd", overrides=["model.label_classes=0"])
    with pytest.raises(GanforgeError, match="multiscale-patchgan"):
        Trainer(build_config("shapes-spade", overrides=[*TINY, "model.discriminator=patchgan", "train.steps=1"]),
                "unused", quiet=True)
    with pytest.raises(GanforgeError, match="holds no label maps"):
        Trainer(build_config("shapes-spade", overrides=[*TINY, "data.dataset=mnist-edges", "model.channels=1",
                                                        "train.steps=1"]), "unused", quiet=True)


def test_regression_baseline_has_no_discriminator_phase(tmp_path):
    config = build_config("shapes-pix2pixhd", overrides=[*TINY, "train.steps=1", "algorithm.gan_weight=0",
                                                         "algorithm.l1_weight=10"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert [p.name for p in trainer.phases] == ["G"] and list(trainer.optimizers) == ["G"]
    assert "feature_matching" not in trainer.train_step()


def test_translate_label_maps_and_eval_with_miou(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "shapes-spade", "--out", str(run), "--quiet",
                 *sets(*TINY_32, "train.steps=2", "train.checkpoint_every=2")]) == 0
    label_map = np.zeros((20, 24), dtype=np.uint8)
    label_map[4:12, 5:15] = 2
    (tmp_path / "in").mkdir()
    Image.fromarray(label_map).save(tmp_path / "in" / "scene.png")
    assert main(["translate", str(run), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    written = np.asarray(Image.open(tmp_path / "out" / "scene.png"))
    generator = load_generator(run)
    with torch.no_grad():
        expected = generator(label_map=torch.from_numpy(label_map.astype(np.int64))[None, None])
    assert written.shape == (20, 24, 3)
    assert np.abs(written.astype(int) - ((expected[0].permute(1, 2, 0) + 1) * 127.5).round().numpy()).max() <= 1

    label_map[0, 0] = 9
    Image.fromarray(label_map).save(tmp_path / "in" / "scene.png")
    capsys.readouterr()
    assert main(["translate", str(run), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "class 9" in err and "scene.png" in err

    assert main(["eval", str(run), "--out", str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["extractor"]["extractor"] == "shapes-segmenter"
    metrics = result["metrics"]
    assert {"fid", "l1", "psnr", "ssim", "miou", "real_miou"} <= set(metrics)
    assert 0 <= metrics["miou"] <= 1 and metrics["real_miou"] > 0.99
