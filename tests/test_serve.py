"""`ganforge serve`: the API built from each export's declared inputs, micro-batching, limits and bad input (always
a 4xx with a JSON reason), /metrics, and the drift monitor; FastAPI's TestClient in process, one real server."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'ganforge[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

import ganforge  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.serve import build_app  # noqa: E402
from ganforge.serve.app import ServeSettings  # noqa: E402
from ganforge.serve.batching import MicroBatcher  # noqa: E402

from serve_fixtures import export_untrained, free_port  # noqa: E402


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    return {kind: export_untrained(kind, root / kind) for kind in ("dcgan", "cgan", "infogan", "pix2pix")}


@pytest.fixture(scope="module")
def client(exports):
    with TestClient(build_app(list(exports.values()), "cpu")) as c:
        yield c


def decoded(response) -> torch.Tensor:
    """The base64 PNGs of a json response as uint8 (N, C, H, W)."""
    arrays = []
    for text in response.json()["images"]:
        array = torch.from_numpy(np.array(Image.open(io.BytesIO(base64.b64decode(text)))))
        arrays.append(array[None] if array.dim() == 2 else array.permute(2, 0, 1))
    return torch.stack(arrays)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_models_are_described_by_their_declared_inputs(client):
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert set(models) == {"dcgan", "cgan", "infogan", "pix2pix"}
    assert models["dcgan"]["seeded"] and models["dcgan"]["truncation"] and models["dcgan"]["class"] is None
    assert models["dcgan"]["drift_reference"] and models["dcgan"]["resolution"] == 28
    assert models["cgan"]["class"] == {"name": "label", "classes": 10}
    codes = {c["name"]: c for c in models["infogan"]["codes"]}
    assert codes["c1"]["kind"] == "categorical" and codes["c1"]["categories"] == 10 and codes["c2"]["kind"] == "continuous"
    assert not models["infogan"]["truncation"], "uniform noise is not truncatable"
    assert not models["pix2pix"]["seeded"] and models["pix2pix"]["image_input"]["kind"] == "image"
    assert not models["pix2pix"]["drift_reference"]
    assert client.get("/healthz").json() == {"status": "ok", "models": list(models)}


def test_generate_gives_what_ganforge_sample_gives(client, exports):
    reply = client.post("/api/generate", json={"model": "dcgan", "n": 6, "seed": 11, "format": "json"})
    assert reply.status_code == 200 and float(reply.headers["x-latency-ms"]) > 0
    expected = ganforge.Sampler(ganforge.load_generator(exports["dcgan"])).sample(6, seed=11)
    assert torch.equal(decoded(reply), expected)
    grid = client.post("/api/generate", json={"model": "dcgan", "n": 9, "seed": 11})
    assert grid.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(grid.content)).size == (3 * 30 + 2, 3 * 30 + 2)

    labelled = client.post("/api/generate", json={"model": "cgan", "n": 4, "seed": 2, "class": 3, "format": "json"})
    sampler = ganforge.Sampler(ganforge.load_generator(exports["cgan"]))
    assert torch.equal(decoded(labelled), sampler.sample(4, seed=2, label=3))
    coded = client.post("/api/generate", json={"model": "infogan", "n": 3, "seed": 5, "codes": {"c1": 7, "c2": 0.5},
                                               "format": "json"})
    sampler = ganforge.Sampler(ganforge.load_generator(exports["infogan"]))
    assert torch.equal(decoded(coded), sampler.sample(3, seed=5, c1=7, c2=0.5))
    truncated = client.post("/api/generate", json={"model": "dcgan", "n": 2, "seed": 4, "truncation": 0.5,
                                                   "format": "json"})
    sampler = ganforge.Sampler(ganforge.load_generator(exports["dcgan"]))
    assert torch.equal(decoded(truncated), sampler.sample(2, seed=4, truncation=0.5))


def test_interpolate_and_translate(client, exports):
    strip = client.post("/api/interpolate", json={"model": "cgan", "seed_a": 1, "seed_b": 2, "steps": 5, "class": 4,
                                                  "format": "json"})
    sampler = ganforge.Sampler(ganforge.load_generator(exports["cgan"]))
    assert torch.equal(decoded(strip), sampler.interpolate(1, 2, 5, label=4))
    assert Image.open(io.BytesIO(client.post("/api/interpolate", json={"model": "dcgan", "steps": 4}).content)
                      ).size == (4 * 30 + 2, 32)

    source = Image.fromarray((torch.rand(20, 24) * 255).to(torch.uint8).numpy(), mode="L")
    reply = client.post("/api/translate", data={"model": "pix2pix", "format": "json"},
                        files={"image": ("edges.png", png(source), "image/png")})
    assert reply.status_code == 200, reply.text
    from ganforge.translate import Translator

    expected = Translator(ganforge.load_generator(exports["pix2pix"]))(torch.from_numpy(np.array(source))[None])
    assert torch.equal(decoded(reply)[0], expected) and expected.shape[1:] == (20, 24)


BAD_JSON = [
    ({"model": "nope"}, 404, "no model 'nope'"),
    ({"model": "dcgan", "n": 65}, 422, "cap of 64"),
    ({"model": "dcgan", "n": 0}, 422, "n:"),
    ({"model": "dcgan", "n": 2.5}, 422, "n:"),
    ({"model": "dcgan", "seed": 2 ** 63}, 422, "seed"),
    ({"model": "dcgan", "seed": -2 ** 63 - 1}, 422, "seed"),
    ({"model": "dcgan", "class": 1}, 422, "unconditional"),
    ({"model": "cgan", "class": 10}, 422, "out of range"),
    ({"model": "cgan", "class": -1}, 422, "out of range"),
    ({"model": "infogan", "codes": {"c9": 1}}, 422, "no input 'c9'"),
    ({"model": "infogan", "codes": {"c1": "x"}}, 422, "c1"),
    ({"model": "infogan", "codes": {"c1": 1.5}}, 422, "whole numbers"),
    ({"model": "infogan", "codes": {"z": 1}}, 422, "seed"),
    ({"model": "infogan", "truncation": 0.5}, 422, "uniform"),
    ({"model": "dcgan", "truncation": 0}, 422, "truncation"),
    ({"model": "dcgan", "format": "gif"}, 422, "format"),
    ({"model": "dcgan", "extra": 1}, 422, "extra"),
    ({"model": "pix2pix"}, 422, "/api/translate"),
    ({"n": 1}, 422, "model"),
]


@pytest.mark.parametrize("body,status,reason", BAD_JSON)
def test_bad_requests_are_4xx_with_a_reason(client, body, status, reason):
    reply = client.post("/api/generate", json=body)
    assert reply.status_code == status and reason in reply.json()["error"], reply.text


def test_malformed_bodies_uploads_and_paths(client):
    for body in (b"{not json", b"[1, 2]", b"null", b'"text"', b"\xff\xfe"):
        reply = client.post("/api/generate", content=body, headers={"content-type": "application/json"})
        assert 400 <= reply.status_code < 500 and reply.json()["error"], (body, reply.text)
    assert client.post("/api/interpolate", json={"model": "dcgan", "steps": 1}).status_code == 422
    assert client.post("/api/interpolate", json={"model": "dcgan", "steps": 65}).status_code == 422
    not_image = client.post("/api/translate", data={"model": "pix2pix"},
                            files={"image": ("x.png", b"\x89PNG but not really", "image/png")})
    assert not_image.status_code == 415 and "not an image" in not_image.json()["error"]
    for data, files, reason in (({"model": "dcgan"}, {"image": ("a.png", png(Image.new("L", (8, 8))), "image/png")},
                                 "takes no image"),
                                ({"model": "pix2pix", "direction": "BtoA"},
                                 {"image": ("a.png", png(Image.new("L", (8, 8))), "image/png")}, "no option"),
                                ({"model": "pix2pix"}, None, "'image'")):
        reply = client.post("/api/translate", data=data, files=files)
        assert reply.status_code == 422 and reason in reply.json()["error"], reply.text
    assert client.post("/api/translate", json={"model": "pix2pix"}).status_code == 422
    for path in ("/static/../../export.py", "/static/%2e%2e/%2e%2e/export.py", "/static/..%2f..%2fexport.py",
                 "/static/%2e%2e%2f%2e%2e%2fexport.py", "/static//etc/passwd", "/static/nothing.js", "/nowhere"):
        reply = client.get(path)
        assert reply.status_code == 404 and reply.json()["error"], path
    assert client.get("/api/generate").status_code == 405
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_body_size_pixel_count_and_rate_limits(exports):
    settings = ServeSettings(max_body_bytes=2000, max_image_pixels=100, rate_limit=0.5, rate_burst=3)
    with TestClient(build_app([exports["pix2pix"]], "cpu", settings)) as c:
        small = png(Image.new("L", (16, 16)))  # 256 pixels > 100
        reply = c.post("/api/translate", data={"model": "pix2pix"}, files={"image": ("a.png", small, "image/png")})
        assert reply.status_code == 413 and "pixels" in reply.json()["error"]
        big = c.post("/api/generate", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert big.status_code == 413 and "bytes" in big.json()["error"]
        chunked = c.post("/api/generate", content=iter([b"{" + b" " * 1500, b" " * 1500 + b"}"]),
                         headers={"content-type": "application/json"})
        assert chunked.status_code == 413, chunked.text
        statuses = [c.get("/api/models").status_code for _ in range(3)]
        assert statuses[-1] == 429 and c.get("/api/models").json()["error"].startswith("over 0.5 requests/s")
        assert c.get("/healthz").status_code == 200, "the rate limit covers /api/ only"


def test_concurrent_requests_share_one_forward_off_the_event_loop(exports):
    app = build_app([exports["dcgan"]], "cpu", ServeSettings(batch_wait_ms=200))
    model, batcher = app.state.models["dcgan"], app.state.batchers["dcgan"]
    seen = []
    decode = model.sampler.decode

    def watched(values):
        images = decode(values)
        seen.append((threading.current_thread().name, len(images), images.is_inference()))
        return images

    batcher.forward = watched
    plans = [model.generation_inputs(1 + i % 3, seed=i, label=None, codes={}, truncation=None) for i in range(8)]

    async def together():
        return await asyncio.gather(*(batcher.submit(values) for values in plans))

    results = asyncio.run(together())
    assert [(name.startswith("ganforge-forward"), rows, inference) for name, rows, inference in seen] == [
        (True, sum(len(next(iter(p.values()))) for p in plans), True)], "one forward in the worker thread"
    sampler = ganforge.Sampler(ganforge.load_generator(exports["dcgan"]))
    for i, images in enumerate(results):
        assert torch.equal(images, sampler.sample(1 + i % 3, seed=i)), "each request gets its own rows back"

    with TestClient(build_app([exports["dcgan"]], "cpu", ServeSettings(batch_wait_ms=100))) as c:
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda seed: c.post("/api/generate", json={"model": "dcgan", "seed": seed,
                                                                                "format": "json"}), range(8)))
        assert all(r.status_code == 200 for r in replies)
        text = c.get("/metrics").text
        count = int(next(line.split()[-1] for line in text.splitlines()
                         if line.startswith('ganforge_batch_size_count{model="dcgan"}')))
        assert count < 8, f"8 concurrent requests took {count} forward passes"


def test_off_switch_one_forward_per_request():
    calls = []

    async def run():
        batcher = MicroBatcher(lambda v: calls.append(len(v["z"])) or v["z"], ThreadPoolExecutor(1), max_batch=1,
                               max_wait=0.05)
        return await asyncio.gather(*(batcher.submit({"z": torch.full((1, 2), float(i))}) for i in range(4)))

    results = asyncio.run(run())
    assert calls == [1, 1, 1, 1] and [float(r[0, 0]) for r in results] == [0, 1, 2, 3]


def test_metrics_are_prometheus_text(client):
    client.post("/api/generate", json={"model": "dcgan", "n": 3})
    client.post("/api/generate", json={"model": "nope"})
    reply = client.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in reply.text.splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP ganforge_", "# TYPE ganforge_")), line
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples['ganforge_requests_total{route="/api/generate",status="200"}'] >= 1
    assert samples['ganforge_requests_total{route="/api/generate",status="404"}'] >= 1
    assert samples['ganforge_request_duration_seconds_count{route="/api/generate"}'] >= 2
    assert samples['ganforge_images_generated_total{model="dcgan"}'] >= 3
    assert 'ganforge_drift{model="dcgan"}' in samples and 'ganforge_drift{model="pix2pix"}' not in samples
    assert not any("nowhere" in name for name in samples), "unknown paths do not become labels"


def test_drift_moves_when_the_weights_are_swapped(exports, tmp_path):
    swapped = tmp_path / "swapped"
    shutil.copytree(exports["dcgan"], swapped)  # the same reference statistics, another generator's weights
    retrained = export_untrained("cgan", tmp_path / "other")
    from safetensors.torch import load_file, save_file

    weights = load_file(str(exports["dcgan"] / "generator.safetensors"))
    weights = {k: (v * 3 if v.is_floating_point() and "running" not in k else v) for k, v in weights.items()}
    save_file(weights, str(swapped / "generator.safetensors"))
    with TestClient(build_app([exports["dcgan"], swapped, retrained], "cpu")) as c:
        for name in ("dcgan", "swapped", "other"):
            for seed in range(4):
                assert c.post("/api/generate", json={"model": name, "n": 32, "seed": 100 + seed}).status_code == 200
        drift = c.get("/api/drift").json()["models"]
    assert drift["dcgan"]["images"] == 128 and drift["swapped"]["images"] == 128
    assert drift["dcgan"]["distance"] < 1e-3, drift
    assert drift["swapped"]["distance"] > 20 * max(drift["dcgan"]["distance"], 1e-6), drift
    assert "feature_distance" not in drift["dcgan"], "no extractor, no feature distance"


def test_feature_drift_with_an_extractor(tmp_path):
    export = export_untrained("dcgan", tmp_path / "dcgan", extractor="random-conv")
    assert (export / "reference.safetensors").is_file()
    swapped = tmp_path / "swapped"
    shutil.copytree(export, swapped)
    from safetensors.torch import load_file, save_file

    weights = load_file(str(export / "generator.safetensors"))
    save_file({k: (v * 3 if v.is_floating_point() and "running" not in k else v) for k, v in weights.items()},
              str(swapped / "generator.safetensors"))
    with TestClient(build_app([export, swapped], "cpu")) as c:
        for name in ("dcgan", "swapped"):
            c.post("/api/generate", json={"model": name, "n": 64, "seed": 1})
            c.post("/api/generate", json={"model": name, "n": 64, "seed": 2})
        drift = c.get("/api/drift").json()["models"]
        text = c.get("/metrics").text
    assert drift["swapped"]["feature_distance"] > 5 * drift["dcgan"]["feature_distance"], drift
    assert 'ganforge_drift_features{model="swapped"}' in text


def test_serve_command_end_to_end(exports, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "serve", str(exports["dcgan"]), str(exports["cgan"]),
                             "--port", str(port), "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    assert json.load(reply)["models"] == ["dcgan", "cgan"]
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/generate", method="POST",
                                         data=json.dumps({"model": "cgan", "n": 4, "class": 2}).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert Image.open(io.BytesIO(reply.read())).size == (2 * 30 + 2, 2 * 30 + 2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_refuses_what_is_not_an_export(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["serve", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "not an export folder" in error and "ganforge export" in error
    assert main(["serve", str(tmp_path / "run"), "--max-n", "0"]) == 2
