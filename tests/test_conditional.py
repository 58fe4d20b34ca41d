"""The conditional and structured-latent families: conditioning blocks, their losses, sampling controls, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from conftest import TINY_DCGAN, run_cli, run_cli_here
from ganforge import Sampler, export_run, load_generator
from ganforge.configure import build_config
from ganforge.data import load_dataset, normalize
from ganforge.errors import GanforgeError
from ganforge.inputs import CategoricalCode, ClassLabel, GeneratorInputs, Latent
from ganforge.metrics import ExtractorOptions, build_extractor
from ganforge.metrics.conditional import GENERATOR_METRICS, GeneratorProbe, matched_accuracy
from ganforge.models import build_discriminator, build_generator
from ganforge.sampling import parse_request, plan_grid
from ganforge.training.trainer import Trainer, train

TINY = [*TINY_DCGAN, "train.batch_size=8", "train.num_samples=4", "eval.every=0"]


def model_config(preset: str, *extra: str):
    return build_config(preset, overrides=[*TINY, *extra]).model


# ------------------------------------------------------------------------------------------------ blocks
@pytest.mark.parametrize("preset, extra", [
    ("mnist-cgan", []), ("mnist-cgan-mlp", []), ("mnist-projection", []),
    ("mnist-cgan", ["model.g_conditioning=cbn"]),
    ("mnist-biggan-lite", ["model.latent_dim=12", "model.g_width=4", "model.d_width=4"]),
])
def test_a_conditional_generator_changes_a_sample_exactly_when_its_label_changes(preset, extra):
    torch.manual_seed(0)
    generator = build_generator(model_config(preset, *extra)).eval()
    for module in generator.modules():  # conditional BatchNorm starts the same for every class: as if trained
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 1.0, 0.5)
    assert isinstance(generator.inputs["label"], ClassLabel) and generator.inputs["label"].classes == 10
    inputs = generator.inputs.sample(6, torch.Generator().manual_seed(1))
    inputs["label"] = torch.tensor([0, 1, 2, 3, 4, 5])
    with torch.no_grad():
        before = generator(**inputs)
        again = generator(**inputs)
        inputs["label"] = torch.tensor([0, 1, 2, 9, 4, 5])  # only sample 3's label
        after = generator(**inputs)
    assert torch.equal(before, again)
    changed = [not torch.equal(before[i], after[i]) for i in range(6)]
    assert changed == [False, False, False, True, False, False]


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_a_conditional_discriminator_changes_a_logit_exactly_when_its_label_changes(conditioning):
    torch.manual_seed(0)
    discriminator = build_discriminator(model_config("mnist-cgan", "model.d_norm=none",
                                                     f"model.d_conditioning={conditioning}")).eval()
    assert discriminator.conditions == ("label",)
    x, labels = torch.rand(5, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 3, 4])
    with torch.no_grad():
        before = discriminator(x, label=labels)
        after = discriminator(x, label=torch.tensor([0, 1, 7, 3, 4]))
    assert before.shape == (5,)
    assert [bool(a != b) for a, b in zip(before, after)] == [False, False, True, False, False]


def test_a_whole_map_projection_starts_as_the_unconditional_discriminator():
    discriminator = build_discriminator(model_config("mnist-cgan", "model.d_norm=none", "model.d_conditioning=projection",
                                                     "model.projection_features=map")).eval()
    channels, height, width = discriminator.inner.feature_shape
    assert discriminator.embedding.weight.shape == (10, channels * height * width)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        unconditional = discriminator.inner.head(discriminator.inner.body(x)).view(-1)
        for label in (0, 3, 9):
            assert torch.equal(discriminator(x, label=torch.full((4,), label)), unconditional)
        nn.init.normal_(discriminator.embedding.weight)
        before = discriminator(x, label=torch.tensor([0, 1, 2, 3]))
        after = discriminator(x, label=torch.tensor([0, 1, 5, 3]))
    assert [bool(a != b) for a, b in zip(before, after)] == [False, False, True, False]


def test_a_whole_map_projection_reads_the_map_a_pooled_body_sums():
    torch.manual_seed(0)
    discriminator = build_discriminator(model_config(
        "mnist-biggan-lite", "model.d_width=4", "model.projection_features=map",
        "model.spectral_norm_layers=[inner]")).eval()
    assert discriminator.embedding.weight.shape == (10, 8 * 7 * 7)  # d_width 4 doubled once, at 7x7 before the sum
    assert not any(n.startswith("embedding.parametrizations") for n, _ in discriminator.named_parameters())
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        unconditional = discriminator.inner(x)
        assert torch.equal(discriminator(x, label=torch.tensor([0, 3, 9, 9])), unconditional)
        nn.init.normal_(discriminator.embedding.weight)
        before = discriminator(x, label=torch.tensor([0, 1, 2, 3]))
        after = discriminator(x, label=torch.tensor([0, 1, 5, 3]))
        unpooled = F.relu(discriminator.inner.body[:-2](x)).flatten(1)  # the blocks, then BigGAN's ReLU
        class_term = (discriminator.embedding.weight[[0, 1, 2, 3]] * unpooled).sum(dim=1)
    assert [bool(a != b) for a, b in zip(before, after)] == [False, False, True, False]
    assert torch.allclose(before, unconditional + class_term, atol=1e-5)


def test_biggan_feeds_its_shared_embedding_to_the_first_layer_only_when_asked():
    torch.manual_seed(0)
    extra = ["model.latent_dim=12", "model.g_width=4"]
    plain = build_generator(model_config("mnist-biggan-lite", *extra, "model.class_into_linear=false")).eval()
    fed = build_generator(model_config("mnist-biggan-lite", *extra)).eval()
    assert plain.project.in_features == 4 and fed.project.in_features == 4 + 8  # z chunk (+ embedding of 2 * g_width)
    seen = {}
    fed.project.register_forward_hook(lambda module, args, out: seen.update(first=args[0]))
    z, label = torch.randn(2, 12), torch.tensor([3, 7])
    with torch.no_grad():
        fed(z=z, label=label)
    assert torch.equal(seen["first"], torch.cat([fed.shared(label), z[:, :4]], dim=1))
    with pytest.raises(GanforgeError, match="model.class_into_linear feeds the shared class embedding .* set "
                                            "model.g_conditioning=native"):
        build_config("mnist-cgan", overrides=["model.class_into_linear=true"])


def test_spectral_norm_covers_the_projection_embedding():
    discriminator = build_discriminator(model_config("mnist-projection", "model.spectral_norm=true",
                                                     "model.projection_features=mean"))
    assert any(name.startswith("embedding.parametrizations.weight") for name, _ in discriminator.named_parameters())


def test_conditioning_that_cannot_apply_is_one_line():
    with pytest.raises(GanforgeError, match="no BatchNorm layer to condition; set model.g_conditioning=concat"):
        build_generator(model_config("mnist-cgan-mlp", "model.g_conditioning=cbn"))
    with pytest.raises(GanforgeError, match="reads z, label itself; set model.g_conditioning=native"):
        build_generator(model_config("mnist-biggan-lite", "model.g_conditioning=concat", "model.latent_dim=20",
                                     "model.class_into_linear=false"))
    with pytest.raises(GanforgeError, match="nothing would tie G's label to its image"):
        build_config("mnist-cgan", overrides=["model.d_conditioning=none"])
    with pytest.raises(GanforgeError, match="acgan's D predicts the class instead of reading it"):
        build_config("mnist-acgan", overrides=["model.d_conditioning=concat"])
    with pytest.raises(GanforgeError, match="model.projection_features=map shapes a projection D, but this D has "
                                            "none; set model.d_conditioning=projection"):
        build_config("mnist-cgan", overrides=["model.projection_features=map"])
    with pytest.raises(GanforgeError, match="spectral norm cannot divide by its largest singular value; set "
                                            r"model.spectral_norm_layers=\[inner\]"):
        build_config("mnist-projection", overrides=["model.spectral_norm=true"])
    with pytest.raises(GanforgeError, match="discriminator 'sngan' pools its features and declares no map before "
                                            "the pool; set model.projection_features=mean"):
        build_discriminator(model_config("mnist-biggan-lite", "model.discriminator=sngan", "model.resolution=16",
                                         "model.projection_features=map"))
    with pytest.raises(GanforgeError, match="model.pack=2 packs samples of different classes"):
        build_config("mnist-cgan", overrides=["model.pack=2"])


# ------------------------------------------------------------------------------------------------ family losses
def trainer_of(preset: str, tmp_path, *extra: str) -> Trainer:
    return Trainer(build_config(preset, overrides=[*TINY, "train.steps=2", *extra]), tmp_path / "run", quiet=True)


def test_acgan_class_terms_are_weighted_cross_entropies(tmp_path):
    trainer = trainer_of("mnist-acgan", tmp_path, "algorithm.class_weight=0.5")
    logits, labels = torch.tensor([[2.0, 0.0, -1.0] + [0.0] * 7, [0.0, 3.0] + [0.0] * 8]), torch.tensor([0, 1])
    assert trainer.family.class_terms(logits, labels).item() == pytest.approx(0.5 * F.cross_entropy(logits, labels))
    adversarial, classes = trainer.nets["D"](torch.zeros(3, 1, 28, 28))
    assert adversarial.shape == (3,) and classes.shape == (3, 10)
    stats = trainer.train_step()
    assert {"class_loss_d", "class_loss_g", "class_accuracy_real"} <= set(stats)


def test_infogan_information_loss_on_known_predictions(tmp_path):
    trainer = trainer_of("mnist-infogan", tmp_path, "algorithm.info_categorical=2", "algorithm.info_continuous=0.5")
    assert list(trainer.generator_inputs) == ["z", "c1", "c2", "c3"] and set(trainer.nets) == {"G", "D", "Q"}
    categorical = torch.tensor([[1.0] + [0.0] * 9, [0.0, 2.0] + [0.0] * 8])
    means = torch.tensor([[0.5, -0.5], [0.0, 1.0]])

    class KnownQ(nn.Module):
        def forward(self, features):
            return categorical, means

    trainer.nets["Q"] = KnownQ()
    inputs = {"c1": torch.tensor([0, 3]), "c2": torch.tensor([0.0, 1.0]), "c3": torch.tensor([0.0, 0.0])}
    loss, stats = trainer.family.information_loss(torch.zeros(2, 4), inputs)
    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    expected = 2 * F.cross_entropy(categorical, inputs["c1"]) + 0.5 * 0.5 * (means - codes).square().sum(1).mean()
    assert loss.item() == pytest.approx(expected.item())
    assert stats["code_accuracy_c1"].item() == 0.5  # the first guess is right, the second is not


def test_infogan_information_term_trains_d_body_and_q_in_phase_d_and_only_g_in_phase_g(tmp_path):
    """The official code's route: L_I joins D's loss (D's body and Q learn to read the codes back from detached
    fakes) and G's loss (G learns to write them, D and Q frozen); D's real/fake head never sees L_I."""
    trainer = trainer_of("mnist-infogan", tmp_path, "model.generator=infogan", "model.discriminator=infogan",
                         "model.latent_dim=6")
    family, nets = trainer.family, trainer.nets
    phases = {phase.name: phase for phase in family.phases()}
    assert phases["D"].networks == ("D", "Q") and phases["G"].networks == ("G",)
    assert {"D", "Q"} <= set(phases["G"].frozen)

    def gradients_of_information_term(detach: bool) -> dict[str, bool]:
        for net in nets.values():
            net.zero_grad(set_to_none=True)
        fake, inputs = family.generate(4, with_graph=True)
        _, features = nets["D"](fake.detach() if detach else fake)
        family.information_loss(features, inputs)[0].backward()
        reached = {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
                   for name, net in nets.items()}
        reached["D head"] = nets["D"].inner.head.weight.grad is not None
        return reached

    assert gradients_of_information_term(detach=True) == {"G": False, "D": True, "Q": True, "D head": False}
    assert gradients_of_information_term(detach=False)["G"]
    assert "info_loss_d" in family.discriminator_loss()


def test_infogan_q_learning_beside_g_leaves_d_to_the_adversarial_loss(tmp_path):
    trainer = trainer_of("mnist-infogan", tmp_path, "model.generator=infogan", "model.discriminator=infogan",
                         "model.latent_dim=6", "algorithm.q_phase=G")
    phases = {phase.name: phase for phase in trainer.family.phases()}
    assert phases["D"].networks == ("D",)
    assert phases["G"].networks == ("G", "Q") and phases["G"].frozen == ("D",)
    assert "info_loss_d" not in trainer.family.discriminator_loss()
    q_before = [p.detach().clone() for p in trainer.nets["Q"].parameters()]
    d_before = [p.detach().clone() for p in trainer.nets["D"].parameters()]
    g_phase = phases["G"]
    stats = trainer.run_phase(g_phase)
    assert "code_accuracy_c1" in stats and stats["info_loss_g"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(q_before, trainer.nets["Q"].parameters()))
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.nets["D"].parameters()))


def test_began_controller_follows_its_equation_and_clips(tmp_path):
    trainer = trainer_of("mnist-began", tmp_path, "model.g_width=8", "model.d_width=8", "model.latent_dim=8",
                         "algorithm.gamma=0.5", "algorithm.lambda_k=0.01")
    began = trainer.family
    began.k, began._real_error, began._fake_error = 0.2, 1.0, 0.3
    began.update_k()
    assert began.k == pytest.approx(0.2 + 0.01 * (0.5 * 1.0 - 0.3))
    began._fake_error = 1000.0
    began.update_k()
    assert began.k == 0.0
    began._fake_error = -1000.0
    began.update_k()
    assert began.k == 1.0
    began.k = 0.25
    assert began.state_dict()["k"].item() == 0.25
    trainer.family.load_state_dict({"k": torch.tensor(0.75, dtype=torch.float64)})
    assert trainer.family.k == 0.75


def test_began_logs_its_convergence_measure_and_plots_it(tmp_path):
    result = train("mnist-began", out=tmp_path / "run", quiet=True,
                   overrides=["model.g_width=8", "model.d_width=8", "model.latent_dim=8", "train.batch_size=8",
                              "train.steps=3", "train.log_every=1", "eval.every=0", "train.num_samples=4"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        assert record["m_global"] == pytest.approx(record["recon_real"] + abs(0.5 * record["recon_real"]
                                                                              - record["loss_g"]), rel=1e-5)
    assert result.last["k"] >= 0 and (tmp_path / "run" / "losses.png").stat().st_size > 1000


@pytest.mark.parametrize("eta", [1, 2])
def test_began_reconstruction_error_is_the_mean_error_to_the_power_eta(tmp_path, eta):
    trainer = trainer_of("mnist-began", tmp_path, "model.g_width=8", "model.d_width=8", "model.latent_dim=8",
                         f"algorithm.eta={eta}")
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        expected = (trainer.nets["D"](images) - images).abs().pow(eta).mean()
        assert trainer.family.reconstruction_error(images).item() == pytest.approx(expected.item(), rel=1e-6)


def test_began_training_moves_k_by_the_logged_errors(tmp_path):
    """Over real steps, k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) with the logged L(x), L(G(z))."""
    train("mnist-began", out=tmp_path / "run", quiet=True,
          overrides=["model.g_width=8", "model.d_width=8", "model.latent_dim=8", "train.batch_size=8",
                     "train.steps=6", "train.log_every=1", "eval.every=0", "train.num_samples=4",
                     "algorithm.lambda_k=0.5", "algorithm.gamma=0.7"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 6 and records[0]["k"] == 0.0
    for before, after in zip(records, records[1:]):
        expected = min(max(before["k"] + 0.5 * (0.7 * before["recon_real"] - before["loss_g"]), 0.0), 1.0)
        assert after["k"] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert any(r["k"] > 0 for r in records[1:])


def test_orthogonal_penalty_equals_its_definition():
    from ganforge.regularizers import orthogonal_penalty

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 50), nn.Conv2d(4, 6, 3), nn.Embedding(5, 7))
    expected = 0.0
    for w in (net[0].weight, net[1].weight):
        w = w.reshape(w.shape[0], -1)
        expected += ((w @ w.t()) * (1 - torch.eye(w.shape[0]))).square().sum()
    assert orthogonal_penalty(net, 1e-2).item() == pytest.approx(0.5 * 1e-2 * expected.item(), rel=1e-5)


# ------------------------------------------------------------------------------------------------ sampling
def test_truncation_keeps_every_value_inside_the_threshold():
    z = Latent(64).sample(2000, torch.Generator().manual_seed(0), truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() < 0.35  # a normal truncated to [-0.5, 0.5] has std 0.28
    again = Latent(64).sample(2000, torch.Generator().manual_seed(0), truncation=0.5)
    assert torch.equal(z, again)
    with pytest.raises(GanforgeError, match="this model's z is uniform"):
        Latent(8, "uniform").sample(4, torch.Generator(), truncation=0.5)
    with pytest.raises(GanforgeError, match="--truncation must be > 0"):
        Latent(8).sample(4, torch.Generator(), truncation=0.0)


def test_grids_sweep_classes_in_rows_and_continuous_codes_in_columns():
    inputs = GeneratorInputs({"z": Latent(4), "label": ClassLabel(3)})
    values, nrow = plan_grid(inputs, 5, seed=0, request=parse_request(inputs, ["all"]))
    assert nrow == 5 and values["label"].tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert torch.equal(values["z"][:5], values["z"][5:10]), "a column shares its noise across classes"
    from ganforge.families.infogan import code_inputs

    codes = code_inputs(build_config("mnist-infogan"))
    values, nrow = plan_grid(codes, 8, seed=0, request=parse_request(codes, None, ["c1=all", "c2=-2:2:5"]))
    assert nrow == 5 and values["c1"].tolist() == [k for k in range(10) for _ in range(5)]
    assert values["c2"][:5].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert torch.equal(values["z"], values["z"][:1].expand(50, -1)), "both sweeps: one noise for the whole grid"
    values, nrow = plan_grid(codes, 3, seed=0, request=parse_request(codes, None, ["c2=-1:1:4"]))
    assert nrow == 4 and len(values["z"]) == 12 and torch.equal(values["z"][0], values["z"][3])


def test_infogan_draws_the_papers_uniform_noise_and_refuses_truncating_it():
    from ganforge.families.infogan import code_inputs

    uniform = code_inputs(build_config("mnist-infogan"))
    z = uniform.sample(4000, torch.Generator().manual_seed(0))["z"]
    assert z.min() >= -1 and z.max() <= 1 and z.abs().max() > 0.99
    with pytest.raises(GanforgeError, match="uniform on \\[-1, 1\\]"):
        uniform.sample(4, torch.Generator().manual_seed(0), truncation=0.5)
    normal = code_inputs(build_config("mnist-infogan", overrides=["algorithm.noise=normal"]))
    assert normal.sample(4000, torch.Generator().manual_seed(0))["z"].abs().max() > 2


@pytest.mark.parametrize("classes, codes, message", [
    (["10"], [], "--class 10 is out of range: this model has 10 \\(0-9\\)"),
    (["two"], [], "--class takes whole numbers 0-9 or all"),
    ([], ["c9=1"], "this model has no code 'c9'; its codes are: c1, c2, c3"),
    ([], ["c2=all"], "--code c2 takes a number or a range"),
    ([], ["c1=-1:1"], "--code c1 takes whole numbers 0-9 or all"),
    ([], ["c2"], "needs the form NAME=VALUE"),
])
def test_sampling_requests_are_checked_against_the_declaration(classes, codes, message):
    from ganforge.families.infogan import code_inputs

    declared = code_inputs(build_config("mnist-infogan"))
    if classes:
        declared = GeneratorInputs({"z": Latent(4), "label": ClassLabel(10)})
    with pytest.raises(GanforgeError, match=message):
        parse_request(declared, classes, codes)


# ------------------------------------------------------------------------------------------------ metrics
class RealDigits(nn.Module):
    """A 'generator' that returns real MNIST digits of the class (or code) it is given: what a perfect
    conditional generator would do. `permutation` maps a code to the digit it draws (InfoGAN's unknown order)."""

    def __init__(self, name: str, permutation: list[int] | None = None) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        digits = load_dataset("mnist-5k")
        self.pool = {c: normalize(digits.images[digits.labels == c]) for c in range(10)}
        self.name, self.permutation = name, permutation or list(range(10))
        spec = ClassLabel(10) if name == "label" else CategoricalCode(10)
        self.inputs = GeneratorInputs({"z": Latent(2), name: spec})

    def forward(self, z, **value):
        labels = value[self.name].tolist()
        picks = (z[:, 0].abs() * 1000).long() % 500
        return torch.stack([self.pool[self.permutation[c]][int(i)] for c, i in zip(labels, picks)])


def probe(generator: nn.Module, n: int = 600) -> GeneratorProbe:
    digits = load_dataset("mnist-5k")
    lenet = build_extractor("lenet-mnist", ExtractorOptions(device="cpu"))
    return GeneratorProbe(generator, lenet, n, seed=0, device=torch.device("cpu"),
                          real=lambda: (digits.images, digits.labels))


def test_class_fidelity_of_real_digits_of_the_requested_class_is_near_one():
    perfect = GENERATOR_METRICS.get("class-fidelity")(probe(RealDigits("label")))
    assert perfect["class_fidelity"] > 0.97 and len(perfect["class_fidelity_per_class"]) == 10
    shifted = GENERATOR_METRICS.get("class-fidelity")(probe(RealDigits("label", [(c + 1) % 10 for c in range(10)])))
    assert shifted["class_fidelity"] < 0.05


def test_intra_fid_is_low_for_the_right_class_and_high_for_the_wrong_one():
    right = GENERATOR_METRICS.get("intra-fid")(probe(RealDigits("label"), n=1000))["intra_fid"]
    wrong = GENERATOR_METRICS.get("intra-fid")(probe(RealDigits("label", [(c + 1) % 10 for c in range(10)]),
                                                     n=1000))["intra_fid"]
    assert 5 * right < wrong  # 100 images a class: FID's small-sample bias keeps even the right classes above 0


def test_code_accuracy_finds_the_codes_digit_order():
    permutation = [3, 7, 0, 9, 1, 5, 2, 8, 6, 4]
    result = GENERATOR_METRICS.get("code-accuracy")(probe(RealDigits("c1", permutation)))
    assert result["code_accuracy"] > 0.97 and result["code_assignment"] == permutation
    accuracy, assignment = matched_accuracy(np.array([0, 0, 1, 1, 2]), np.array([2, 2, 0, 1, 1]), 3)
    assert assignment == [2, 0, 1] and accuracy == pytest.approx(4 / 5)


def test_class_fidelity_refuses_an_unconditional_generator(trained_run):
    with pytest.raises(GanforgeError, match="metric 'class-fidelity' needs a class label"):
        GENERATOR_METRICS.get("class-fidelity")(probe(load_generator(trained_run)))


# ------------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cgan") / "run"
    train("mnist-cgan", out=out, quiet=True, overrides=[*TINY, "train.steps=4", "train.checkpoint_every=4"])
    return out


def test_cli_samples_evaluates_and_exports_a_conditional_model(conditional_run, tmp_path):
    grid = tmp_path / "classes.png"
    result = run_cli("sample", str(conditional_run), "--class", "all", "--n", "3", "--out", str(grid))
    assert result.returncode == 0, result.stderr
    assert Image.open(grid).size == (3 * 30 + 2, 10 * 30 + 2)
    result = run_cli("eval", str(conditional_run), "--metrics", "fid,class-fidelity,intra-fid", "--n", "200",
                     "--out", str(tmp_path / "eval.json"))
    assert result.returncode == 0, result.stderr
    values = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert 0 <= values["class_fidelity"] <= 1 and values["intra_fid"] > 0
    export = export_run(conditional_run, tmp_path / "export")
    described = json.loads((export / "config.json").read_text())
    assert described["family"] == "gan" and described["network"] == "G" and described["version"] == 2
    assert described["inputs"] == {"z": {"kind": "latent", "dim": 16, "distribution": "normal"},
                                   "label": {"kind": "class", "classes": 10}}
    fixed = Sampler(load_generator(export)).sample(4, seed=1, label=7)
    assert fixed.shape == (4, 1, 28, 28)


@pytest.mark.parametrize("args, message", [
    (["--class", "3"], "--class: this model is unconditional"),
    (["--code", "c1=2"], "this model has no code 'c1'"),
])
def test_conditional_flags_on_an_unconditional_model_are_one_line(trained_run, args, message):
    result = run_cli_here("sample", str(trained_run), *args, "--out", "x.png")
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_a_conditional_export_with_the_wrong_label_count_is_refused(conditional_run, tmp_path):
    export = export_run(conditional_run, tmp_path / "export")
    described = json.loads((export / "config.json").read_text())
    described["config"]["model"]["num_classes"] = 12
    described["inputs"]["label"]["classes"] = 12
    (export / "config.json").write_text(json.dumps(described))
    result = run_cli_here("sample", str(export), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "do not match its config.json" in result.stderr and "(26, 16, 7, 7), the config builds (28, 16, 7, 7)" \
        in result.stderr  # z (16) + 10 classes in the file; 12 in the edited config
    described["config"]["model"]["num_classes"] = 10
    (export / "config.json").write_text(json.dumps(described))
    result = run_cli_here("sample", str(export), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "declares the inputs" in result.stderr


def test_a_labelled_preset_on_an_unlabelled_folder_says_how_to_label_it(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((28, 28), i * 10, np.uint8)).save(folder / f"{i}.png")
    result = run_cli_here("train", "mnist-cgan", "--set", f"data.dataset=folder:{folder}", "--set", "train.steps=1",
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "reads 'label' from every batch" in result.stderr
    assert "one sub-folder per class" in result.stderr and not (tmp_path / "run").exists()


def test_class_sub_folders_are_labels_and_train_a_conditional_model(tmp_path):
    for name, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(np.full((28, 28), value + i, np.uint8)).save(tmp_path / "pets" / name / f"{i}.png")
    pets = load_dataset(f"folder:{tmp_path / 'pets'}", resolution=28, channels=1)
    assert pets.class_names == ["cats", "dogs"] and pets.labels.tolist() == [0] * 8 + [1] * 8
    result = train("mnist-cgan", out=tmp_path / "run", quiet=True,
                   overrides=[*TINY, f"data.dataset=folder:{tmp_path / 'pets'}", "model.num_classes=2",
                              "train.steps=2"])
    assert result.steps == 2
    with pytest.raises(GanforgeError, match="has 2 classes but model.num_classes is 1"):
        train("mnist-cgan", out=tmp_path / "run1", quiet=True,
              overrides=[*TINY, f"data.dataset=folder:{tmp_path / 'pets'}", "model.num_classes=1", "train.steps=1"])
