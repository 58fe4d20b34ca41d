"""`ganforge lesson`: every lesson runs in its fast version through the CLI and writes its figures and summary; the
numerical claims of `minimax` and `two-phases` hold; bad names and folders are one line with exit code 2."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.cli import main
from ganforge.lessons import LESSONS, ordered_names

from conftest import TINY_DCGAN

FIGURES = {
    "minimax": ["optimal-d.png", "generator-losses.png", "vanishing-gradient.png"],
    "first-gan": ["losses.png", "final-samples.png", "epochs/epoch_001.png", "epochs/epoch_002.png"],
    "two-phases": ["two-phases.png"],
    "dcgan": ["grids-over-training.png", "final-samples.png"],
    "balance": ["balance.png"],
    "mode-collapse": ["mode-collapse.gif", "mode-collapse.png"],
    "latent-space": ["interpolation.png"],
    "gan-vs-vae": ["gan-vs-vae.png", "vae-loss.png"],
    "stylize": ["stylize.png", "losses.png"],
}


@pytest.fixture(autouse=True)
def _own_cache_one_thread(tmp_path, monkeypatch):
    """Real features cached in the test's own folder; one thread, as the lessons are meant to run beside others."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_lesson_is_listed_in_order(capsys):
    assert ordered_names() == list(FIGURES)
    assert set(LESSONS.names()) == set(FIGURES)
    assert main(["lesson", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(FIGURES)


@pytest.mark.parametrize("name", list(FIGURES))
def test_fast_lesson_writes_its_figures_and_summary(name, tmp_path, capsys):
    threads = torch.get_num_threads()
    out = tmp_path / name
    assert main(["lesson", name, "--fast", "--out", str(out), "--threads", "1"]) == 0
    assert torch.get_num_threads() == threads  # the lesson's thread setting does not leak
    for figure in FIGURES[name]:
        assert (out / figure).stat().st_size > 0, figure
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Lesson") and summary.strip() in capsys.readouterr().out
    assert not list(out.glob("**/checkpoints")), "training runs stay out of the lesson folder"


def test_latent_space_takes_a_model(tmp_path, capsys):
    run = tmp_path / "run"
    args = [arg for item in [*TINY_DCGAN, "train.steps=2", "eval.every=0"] for arg in ("--set", item)]
    assert main(["train", *args, "--out", str(run), "--quiet"]) == 0
    assert main(["lesson", "latent-space", "--fast", "--model", str(run), "--out", str(tmp_path / "ls")]) == 0
    assert f"the model in `{run}`" in (tmp_path / "ls" / "summary.md").read_text()
    assert (tmp_path / "ls" / "interpolation.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["lesson", "minimaxx"], "unknown lesson 'minimaxx'; choose from: minimax, first-gan, two-phases, dcgan"),
    (["lesson", "minimax", "--model", "runs/x"], "lesson minimax takes no --model; only latent-space does"),
    (["lesson", "latent-space", "--fast", "--model", "/nonexistent/run"], "/nonexistent/run"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_threads_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lesson", "minimax", "--threads", "-1"])
    assert exit_info.value.code == 2 and "--threads must be >= 0" in capsys.readouterr().err


def test_bad_out_folders_are_refused(tmp_path, capsys):
    a_file = tmp_path / "file.png"
    a_file.write_bytes(b"x")
    assert main(["lesson", "two-phases", "--fast", "--out", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert main(["lesson", "two-phases", "--fast", "--out", str(run)]) == 2
    assert "holds a run or export" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if _writable(locked):
            pytest.skip("this user writes into read-only folders (root)")
        assert main(["lesson", "two-phases", "--fast", "--out", str(locked / "inner")]) == 2
        assert "cannot write" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def _writable(folder) -> bool:
    try:
        (folder / ".probe").write_bytes(b"")
        (folder / ".probe").unlink()
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ minimax's claims
def test_optimal_discriminator_and_minus_log_4():
    from ganforge.lessons.minimax import LOG4, check_game

    for mean, std in ((2.0, 1.0), (1.0, 0.5), (-1.5, 2.0)):
        check = check_game(mean, std)
        assert check.pointwise_error < 1e-4  # the D maximising V point by point is p_data / (p_data + p_g)
        assert not check.beaten_by_perturbation
        assert check.value_at_optimum == pytest.approx(-LOG4 + 2 * check.jsd, abs=1e-7)
        assert check.value_at_optimum > -LOG4 and 0 < check.jsd <= math.log(2)
    same = check_game(0.0, 1.0)
    assert same.value_at_optimum == pytest.approx(-LOG4, abs=1e-9) and same.jsd == pytest.approx(0.0, abs=1e-12)


def test_saturating_gradient_vanishes_and_non_saturating_does_not():
    from ganforge.lessons.minimax import generator_gradients

    d = torch.tensor([1e-1, 1e-2, 1e-3, 1e-4], dtype=torch.float64)
    grads = generator_gradients(d)
    assert torch.allclose(grads["minimax"], -d, rtol=1e-9)  # d/dlogit log(1 - D) = -D -> 0
    assert torch.allclose(grads["non-saturating"], d - 1, rtol=1e-9)  # d/dlogit -log D = D - 1 -> -1
    assert grads["minimax"].abs()[-1] < 1e-3 < 0.99 < grads["non-saturating"].abs()[-1]


def test_from_a_confident_d_the_saturating_loss_gives_g_far_less_gradient():
    from ganforge.lessons.minimax import train_from_confident_d

    saturating = train_from_confident_d("minimax", d_steps=40, steps=3)
    non_saturating = train_from_confident_d("non-saturating", d_steps=40, steps=3)
    assert saturating.d_fake_start == non_saturating.d_fake_start < 0.2  # the same confident D to start from
    assert saturating.grad_norms[0] < 0.3 * non_saturating.grad_norms[0]


# ------------------------------------------------------------------------------------------------ two phases
def test_each_phase_moves_only_its_own_network(tmp_path):
    from ganforge.lessons.common import build_trainer
    from ganforge.lessons.two_phases import measure_phases

    for preset, extra in (("mnist-mlp-relu", []), ("mnist-dcgan", TINY_DCGAN)):
        trainer = build_trainer(preset, ["train.steps=10", "eval.every=0", *extra], tmp_path / preset)
        m = measure_phases(trainer)
        trainer.runlog.close()
        assert m.moved["D"]["G"] == 0.0 and m.moved["G"]["D"] == 0.0  # exactly: not one parameter moved
        assert m.moved["D"]["D"] > 0 and m.moved["G"]["G"] > 0
        assert m.d_real[1] - m.d_fake[1] > m.d_real[0] - m.d_fake[0]  # phase D separates the batch better
        assert m.d_real[2] == m.d_real[1]  # phase G leaves D, so its score of the real batch, unchanged
        assert m.d_fake[2] > m.d_fake[1]  # phase G moves the fakes towards "real"
