"""`ganforge stats` / `ganforge eval` end to end, their bad-input paths, and evaluation during training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_DCGAN, run_cli, run_cli_here


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Subprocesses inherit this: reference statistics are cached in the test's folder, never in ~/.cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def write_pngs(folder: Path, images: torch.Tensor) -> Path:
    from ganforge.sampling import make_grid_image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        make_grid_image(image[None], nrow=1, padding=0).save(folder / f"{i:03d}.png")
    return folder


def test_stats_writes_pytorch_fid_layout_with_metadata(tmp_path):
    out = tmp_path / "ref.npz"
    result = run_cli("stats", "mnist-5k", "--extractor", "lenet-mnist", "--n", "300", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "300 images of mnist-5k" in result.stdout
    with np.load(out, allow_pickle=False) as data:  # exactly how pytorch-fid reads a statistics file
        mu, sigma = data["mu"][:], data["sigma"][:]
        assert str(data["meta_extractor"]) == "lenet-mnist" and int(data["meta_n"]) == 300
        assert len(str(data["meta_weights_sha256"])) == 64 and str(data["meta_resize"])
    assert mu.shape == (128,) and sigma.shape == (128, 128) and np.allclose(sigma, sigma.T)
    cached = list((tmp_path / "cache" / "stats").glob("mnist-5k-lenet-mnist-*-n300.npz"))
    assert len(cached) == 1


def test_eval_of_a_run_prints_a_table_and_writes_json(trained_run, tmp_path, capsys):
    from ganforge.cli import main

    out = tmp_path / "result.json"
    result = run_cli("eval", str(trained_run), "--n", "200", "--metrics", "fid,kid,pr,dc,modes,is", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "extractor lenet-mnist" in result.stdout and "fid " in result.stdout
    data = json.loads(out.read_text())
    metrics = data["metrics"]
    assert set(metrics) >= {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "modes",
                            "class_kl", "class_counts", "is", "is_std"}
    assert metrics["fid"] > 0 and 0 <= metrics["precision"] <= 1 and sum(metrics["class_counts"]) == 200
    assert data["fake"]["n"] == 200 and data["real"]["n"] == 200 and data["real"]["dataset"] == "mnist-5k"
    assert data["extractor"]["extractor"] == "lenet-mnist" and data["extractor"]["comparable"] is False
    # again in-process: the default output goes next to the model, the real features come from the cache
    assert main(["eval", str(trained_run), "--n", "200", "--metrics", "fid,kid,pr,dc,modes,is"]) == 0
    assert json.loads((trained_run / "eval-lenet-mnist.json").read_text())["metrics"] == metrics
    capsys.readouterr()


def test_eval_against_reference_statistics_and_refusal_of_another_extractor(trained_run, tmp_path, capsys):
    from ganforge.cli import main

    lenet_ref, other_ref = tmp_path / "lenet.npz", tmp_path / "random.npz"
    assert main(["stats", "mnist-5k", "--extractor", "lenet-mnist", "--n", "100", "--out", str(lenet_ref)]) == 0
    assert main(["stats", "mnist-5k", "--extractor", "random-conv", "--n", "100", "--out", str(other_ref)]) == 0
    assert main(["eval", str(trained_run), "--ref", str(lenet_ref), "--metrics", "fid", "--n", "100", "--out",
                 str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["real"]["path"] == str(lenet_ref)
    capsys.readouterr()
    assert main(["eval", str(trained_run), "--ref", str(other_ref), "--metrics", "fid", "--n", "100"]) == 2
    assert "computed with extractor 'random-conv', not 'lenet-mnist'" in capsys.readouterr().err
    assert main(["eval", str(trained_run), "--ref", str(lenet_ref), "--metrics", "kid", "--n", "100"]) == 2
    assert "need its features" in capsys.readouterr().err


def test_eval_compares_two_folders_without_a_model(tmp_path):
    from ganforge.data import load_dataset

    digits = load_dataset("mnist-5k").images  # sorted by class: take every 62nd digit to get all ten
    real = write_pngs(tmp_path / "real", digits[0::125])
    fake = write_pngs(tmp_path / "fake", digits[62::125])
    out = tmp_path / "folders.json"
    result = run_cli("eval", "--real-dir", str(real), "--fake-dir", str(fake), "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["extractor"]["extractor"] == "lenet-mnist"  # 28x28 gray folders get the MNIST extractor
    assert data["real"]["n"] == 40 and data["fake"]["n"] == 40
    assert 0 < data["metrics"]["fid"] < 100 and data["metrics"]["modes"] == 10


def test_eval_bad_input_through_the_real_cli_is_one_line_exit_2(tmp_path):
    assert "--n must be >= 2" in one_error_line(run_cli_here("eval", str(tmp_path), "--n", "1"))


def test_eval_and_stats_bad_input_is_one_line_exit_2(trained_run, tmp_path, capsys):
    from ganforge.cli import main
    from ganforge.data import load_dataset
    from ganforge.metrics.inception import STANDARD_FILE

    digits = load_dataset("mnist-5k").images[::500]
    gray = write_pngs(tmp_path / "gray", digits)
    rgb = write_pngs(tmp_path / "rgb", digits.expand(-1, 3, -1, -1))
    single = write_pngs(tmp_path / "single", digits[:1])
    damaged = tmp_path / STANDARD_FILE
    damaged.write_bytes(b"truncated download")
    run = str(trained_run)
    cases = [
        (("eval", str(tmp_path / "missing")), "does not exist"),
        (("eval", run, "--metrics", "fid,fud", "--n", "50"), "did you mean 'fid'"),
        (("eval", run, "--extractor", "lenet", "--n", "50"), "unknown extractor 'lenet'"),
        (("eval", "--real-dir", str(gray)), "--real-dir and --fake-dir go together"),
        (("eval", "--real-dir", str(gray), "--fake-dir", str(rgb)), "compare sets of the same size and channels"),
        (("eval", "--real-dir", str(gray), "--fake-dir", str(single)), "fake set has 1 image"),
        (("eval", run, "--dataset", "cifar10", "--n", "50", "--data-dir", str(tmp_path / "none")), "--download"),
        (("eval", run, "--extractor", "inception", "--inception-weights", str(tmp_path / "no.pth")),
         "does not exist"),
        (("eval", run, "--resize", "pytorch-fid", "--n", "50"), "apply to --extractor inception, not 'lenet-mnist'"),
        (("eval", run, "--extractor", "inception", "--resize", "bilinear"), "unknown inception resize mode"),
        (("eval", run, "--extractor", "inception", "--inception-weights", str(damaged)),
         f"'{damaged}' should have a sha256 starting with 6726825d"),
        (("stats", "mnist-5k", "--out", str(tmp_path / "x.npz"), "--n", "1"), "--n must be >= 2"),
        (("stats", "mnist-5k", "--extractor", "random-conv", "--out", str(gray / "000.png" / "x.npz"), "--n", "20"),
         "cannot write statistics"),
    ]
    for args, expected in cases:
        code = main(list(args))
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], \
            (args, captured.err)


# ------------------------------------------------------------------------------------------------ training
EVAL_RUN = [*TINY_DCGAN, "train.steps=6", "train.log_every=1", "train.checkpoint_every=3", "train.sample_every=100",
            "eval.every=2", "eval.n=64", "eval.metrics=[fid,kid]"]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory) -> Path:
    from ganforge.training.trainer import train

    run = tmp_path_factory.mktemp("evaluated") / "run"
    train("mnist-dcgan", out=run, overrides=EVAL_RUN, quiet=True)
    return run


def test_training_logs_metrics_and_keeps_the_best_generator(evaluated_run, tmp_path):
    run = evaluated_run
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "fid" in r]
    assert [r["step"] for r in evals] == [2, 4, 6] and all("kid" in r for r in evals)
    best = json.loads((run / "best.json").read_text())
    assert best["fid"] == min(r["fid"] for r in evals)
    assert best["step"] == next(r["step"] for r in evals if r["fid"] == best["fid"])
    assert best["weights"] == "ema" and best["extractor"]["extractor"] == "lenet-mnist"
    assert (run / "losses.png").is_file()  # the plot skips the evaluation lines
    sampled = run_cli("sample", str(run / "best.safetensors"), "--n", "4", "--out", str(tmp_path / "best.png"))
    assert sampled.returncode == 0, sampled.stderr


def test_evaluation_does_not_change_training(evaluated_run, tmp_path):
    """Same seed without eval.every, and with it but killed and resumed half-way: identical weights and values."""
    from ganforge.checkpoints import list_checkpoints, load_checkpoint
    from ganforge.training.trainer import train

    plain, resumed = tmp_path / "plain", tmp_path / "resumed"
    train("mnist-dcgan", out=plain, overrides=[*EVAL_RUN, "eval.every=0"], quiet=True)
    train("mnist-dcgan", out=resumed, overrides=[*EVAL_RUN, "train.steps=3"], quiet=True)
    train(resume=resumed, overrides=["train.steps=6"], quiet=True)
    final = [load_checkpoint(list_checkpoints(run)[-1]) for run in (plain, evaluated_run, resumed)]
    for key, net in (("nets", "G"), ("nets", "D"), ("ema", "G")):
        for name, tensor in final[0][key][net].items():
            assert torch.equal(tensor, final[1][key][net][name]) and torch.equal(tensor, final[2][key][net][name]), name
    fids = [[json.loads(line).get("fid") for line in (run / "metrics.jsonl").read_text().splitlines()]
            for run in (evaluated_run, resumed)]
    assert fids[0] == fids[1] and len([f for f in fids[0] if f is not None]) == 3


def test_missing_inception_weights_stop_training_before_the_first_step(tmp_path, monkeypatch):
    from ganforge.errors import GanforgeError
    from ganforge.metrics import inception
    from ganforge.training.trainer import train

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "fid_helper_path", lambda: None)
    with pytest.raises(GanforgeError, match="no Inception weights found"):
        train("mnist-dcgan", out=tmp_path / "run", overrides=[*EVAL_RUN, "eval.extractor=inception"], quiet=True)
    assert not (tmp_path / "run").exists()


def test_eval_config_is_validated():
    from ganforge.configure import build_config
    from ganforge.errors import GanforgeError

    for override, message in [("eval.every=-1", "eval.every must be >= 0"), ("eval.n=1", "eval.n must be >= 2"),
                              ("eval.metrics=[fid,fdi]", "eval.metrics: unknown metric 'fdi'"),
                              ("eval.extractor=incepton", "eval.extractor: unknown extractor 'incepton'")]:
        with pytest.raises(GanforgeError, match=message):
            build_config("mnist-dcgan", overrides=[override])
