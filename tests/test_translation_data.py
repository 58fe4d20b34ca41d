"""Two-domain datasets: built-in tasks, paired/unpaired folders, pair-preserving jitter, grouped streams."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.configure import build_config
from ganforge.data import BatchStream, load_dataset, make_stream, random_crop_flip
from ganforge.data.translation import sobel_edges
from ganforge.errors import GanforgeError
from ganforge.training.trainer import Trainer


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def random_gray(rng, size=(12, 12)):
    return rng.integers(0, 256, size=size, dtype=np.uint8)


def test_mnist_edges_pairs_each_digit_with_its_edges():
    data = load_dataset("mnist-edges")
    assert data.paired and data.test_aligned and data.groups() == (("A", "B", "label_A", "label_B"),)
    assert data.train["A"].shape == (4500, 1, 28, 28) and data.test["B"].shape == (500, 1, 28, 28)
    assert torch.equal(data.train["A"][:5], sobel_edges(data.train["B"][:5]))
    assert (data.train["A"].flatten(1).amax(1) == 255).all()  # every edge map scaled to full range
    assert torch.equal(data.train["label_A"], data.train["label_B"])
    assert torch.bincount(data.test["label_B"]).tolist() == [50] * 10  # every class held out alike


def test_mnist_inverted_is_unpaired_in_training_and_aligned_in_test():
    data = load_dataset("mnist-inverted")
    assert not data.paired and data.test_aligned
    assert data.groups() == (("A", "label_A"), ("B", "label_B"))
    assert data.train["A"].shape[0] == data.train["B"].shape[0] == 2250
    assert torch.bincount(data.train["label_A"]).min() > 200 and torch.bincount(data.train["label_B"]).min() > 200
    assert torch.equal(data.test["B"], 255 - data.test["A"])
    train_a = {bytes(row.numpy()) for row in data.train["A"]}
    assert not any(bytes((255 - row).numpy()) in train_a for row in data.train["B"][:200])  # other digits


def test_paired_folder_with_a_b_subfolders_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("test", 2)):
        for i in range(count):
            image = random_gray(rng)
            write_png(tmp_path / split / "A" / f"{i}.png", image)
            write_png(tmp_path / split / "B" / f"{i}.png", 255 - image)
    data = load_dataset(f"paired:{tmp_path}", resolution=12, channels=1)
    assert data.train["A"].shape == (4, 1, 12, 12) and data.test["A"].shape == (2, 1, 12, 12)
    assert torch.equal(data.train["B"], 255 - data.train["A"])  # matched by name


def test_paired_folder_of_side_by_side_images_holds_out_ten_percent(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(20):
        left = random_gray(rng)
        write_png(tmp_path / f"{i:02d}.png", np.concatenate([left, 255 - left], axis=1))
    data = load_dataset(f"paired:{tmp_path}", resolution=12, channels=1)
    assert data.train["A"].shape[0] == 18 and data.test["A"].shape[0] == 2
    assert torch.equal(data.train["B"], 255 - data.train["A"])  # left half A, right half B
    again = load_dataset(f"paired:{tmp_path}", resolution=12, channels=1)
    assert torch.equal(again.test["A"], data.test["A"])  # the held-out rows are fixed


def test_paired_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        load_dataset(f"paired:{tmp_path / 'nowhere'}")
    rng = np.random.default_rng(2)
    for i in range(3):
        write_png(tmp_path / "A" / f"{i}.png", random_gray(rng))
    for i in range(2):
        write_png(tmp_path / "B" / f"{i}.png", random_gray(rng))
    with pytest.raises(GanforgeError, match=r"no partner of the same name .*e\.g\. 2"):
        load_dataset(f"paired:{tmp_path}", resolution=12, channels=1)
    (tmp_path / "B" / "2.png").write_bytes(b"not a png")
    with pytest.raises(GanforgeError, match="cannot be read"):
        load_dataset(f"paired:{tmp_path}", resolution=12, channels=1)
    with pytest.raises(GanforgeError, match="needs a path"):
        load_dataset("paired:")


def test_unpaired_folder_reads_cyclegan_layout(tmp_path):
    rng = np.random.default_rng(3)
    for folder, count in (("trainA", 5), ("trainB", 3), ("testA", 2), ("testB", 1)):
        for i in range(count):
            write_png(tmp_path / folder / f"{i}.png", random_gray(rng))
    data = load_dataset(f"unpaired:{tmp_path}", resolution=8, channels=3)
    assert not data.paired and not data.test_aligned
    assert data.train["A"].shape == (5, 3, 8, 8) and data.train["B"].shape == (3, 3, 8, 8)
    assert data.test["B"].shape[0] == 1
    with pytest.raises(GanforgeError, match="at least 2 images in trainA"):
        load_dataset(f"unpaired:{tmp_path / 'trainB'}", resolution=8, channels=3)


def test_paper_sets_need_download_and_say_so(tmp_path):
    with pytest.raises(GanforgeError, match="pass --download to fetch it"):
        load_dataset("facades", data_dir=tmp_path)
    with pytest.raises(GanforgeError, match="horse2zebra"):
        load_dataset("horse2zebra", data_dir=tmp_path)


def test_jitter_crops_and_flips_a_pair_alike_and_domains_independently():
    torch.manual_seed(0)
    a = torch.randint(0, 256, (64, 1, 10, 10), dtype=torch.uint8)
    batch = {"A": a, "B": 255 - a, "label_A": torch.arange(64)}
    paired = random_crop_flip(batch, (("A", "B", "label_A"),), 8, flip=True)
    assert paired["A"].shape == (64, 1, 8, 8) and torch.equal(paired["B"], 255 - paired["A"])
    assert torch.equal(paired["label_A"], batch["label_A"])
    unpaired = random_crop_flip(batch, (("A", "label_A"), ("B",)), 8, flip=True)
    assert not torch.equal(unpaired["B"], 255 - unpaired["A"])
    windows = {bytes(row.numpy()) for row in paired["A"]}
    assert len(windows) == 64  # rows cropped at their own offsets
    with pytest.raises(GanforgeError, match="smaller than the 12x12 crop"):
        random_crop_flip(batch, (("A", "B"),), 12, flip=False)


def test_grouped_stream_resumes_exactly_and_keeps_group_zero_order():
    tensors = {"A": torch.arange(10), "B": torch.arange(100, 106)}
    stream = make_stream(tensors, (("A",), ("B",)), batch_size=2, seed=3)
    plain = BatchStream({"A": tensors["A"]}, batch_size=2, seed=3)
    for _ in range(7):
        batch = stream.next()
        assert torch.equal(batch["A"], plain.next()["A"]) and batch["B"].shape == (2,)
    assert stream.epoch == 1 and stream.batches_per_epoch == 5  # epochs count the larger domain
    state = stream.state_dict()
    expected = [stream.next() for _ in range(6)]
    resumed = make_stream(tensors, (("A",), ("B",)), batch_size=2, seed=3)
    resumed.load_state_dict(state)
    for want in expected:
        got = resumed.next()
        assert all(torch.equal(got[key], want[key]) for key in want)
    assert isinstance(make_stream(tensors | {"B": torch.arange(10)}, (("A", "B"),), 2, 0), BatchStream)


def test_trainer_jitters_paired_folders_keeping_pairs_aligned(tmp_path):
    rng = np.random.default_rng(4)
    for i in range(12):
        image = random_gray(rng, (20, 20))
        write_png(tmp_path / "pairs" / "A" / f"{i}.png", image)
        write_png(tmp_path / "pairs" / "B" / f"{i}.png", 255 - image)
    config = build_config("mnist-pix2pix", overrides=[
        f"data.dataset=paired:{tmp_path / 'pairs'}", "model.resolution=16", "data.load_size=20", "data.flip=true",
        "model.g_width=4", "model.d_width=4", "train.batch_size=4", "train.steps=1", "train.num_samples=4"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    batch = trainer.next_real_batch()
    assert batch["A"].shape == (4, 1, 16, 16) and torch.allclose(batch["B"], -batch["A"], atol=1e-6)
    held = trainer.held_out(2)
    assert held["A"].shape == (1, 1, 16, 16)  # 10 % of 12 pairs, centre-cropped


def test_noise_families_refuse_two_domain_sets(tmp_path):
    config = build_config("mnist-dcgan", overrides=["data.dataset=mnist-edges", "train.steps=1"])
    with pytest.raises(GanforgeError, match="reads 'image' .* has only A, B, label_A, label_B .*pix2pix"):
        Trainer(config, tmp_path / "run", quiet=True)


def test_one_domain_readers_refuse_two_domain_sets():
    from ganforge.metrics.stats import real_images

    with pytest.raises(GanforgeError, match="holds image domains for image-to-image translation"):
        real_images("mnist-inverted", 10)
