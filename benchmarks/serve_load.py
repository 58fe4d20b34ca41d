"""Load test of `ganforge serve`: N concurrent clients on loopback, micro-batching on and off, and onnxruntime vs
PyTorch in process.

A real server (`ganforge serve` in a subprocess, bound to 127.0.0.1) serves the `mnist-dcgan` export. For each
mode (micro-batching on: `--max-batch 64` and the server's default wait, or --batch-wait-ms; off: `--max-batch 1`) and each client count (1, 8,
32), clients POST `/api/generate {"n": 1, "format": "png"}` back to back on keep-alive connections for a fixed
duration: latency p50/p95/p99, images/s, errors (any status but 200, or a broken connection), and the server's RSS
sampled every 0.2 s (growth = last sample over the first one after warm-up). Bounded: every phase stops after its
duration or `--max-requests`, whichever comes first, and the server is stopped at the end.

Untrained weights by default (the preset's full network, exported with its drift reference): speed does not depend
on the weights; pass --model DIR to load-test an export of your own.

    python -m benchmarks.serve_load [--quick] [--duration S] [--clients 1,8,32] [--model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO_DIR, benchmark, interleave, main_for, print_table, reps, write_result

MODES = {"batching on": ["--max-batch", "64"], "batching off": ["--max-batch", "1"]}


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", help="an export folder (default: an untrained mnist-dcgan export)")
    p.add_argument("--duration", type=float, default=None, help="seconds per (mode, clients) phase (default 10)")
    p.add_argument("--clients", default="1,8,32", help="comma-separated client counts (default 1,8,32)")
    p.add_argument("--max-requests", type=int, default=100_000, help="requests per phase at most")
    p.add_argument("--batch-wait-ms", type=float, default=None,
                   help="the batching-on server's --batch-wait-ms (default: the server's default)")
    p.add_argument("--server-threads", type=int, default=1,
                   help="torch threads of the server (default 1: the client needs the other core of two)")


def default_export(folder: Path) -> Path:
    """An untrained export of the full mnist-dcgan preset, with its drift reference."""
    from ganforge.configure import build_config
    from ganforge.drift import write_reference
    from ganforge.export import CONFIG_FILE, WEIGHTS_FILE, write_generator
    from ganforge.families import FAMILIES

    config = build_config("mnist-dcgan")
    torch.manual_seed(0)
    network = FAMILIES.get(config.algorithm.name).build_sampler(config)
    folder.mkdir(parents=True, exist_ok=True)
    write_generator(folder / WEIGHTS_FILE, folder / CONFIG_FILE, network, config, 0, "generator")
    write_reference(folder)
    return folder


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, flags: list[str], threads: int | None) -> tuple[subprocess.Popen, int]:
    """`ganforge serve MODEL` on a free loopback port, once it answers /healthz: (process, port)."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "ganforge", "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
               "--device", "cpu", "--max-n", "64", *flags, *(["--threads", str(threads)] if threads else [])]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer /healthz within 120 s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """The server's resident memory every `every` seconds, in a thread, while a phase runs."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self.samples = pid, every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((round(time.perf_counter() - start, 2), rss_mib(self.pid)))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


async def _client(port: int, body: bytes, until: float, budget: list[int], latencies: list[float],
                  errors: list[str]) -> None:
    """One keep-alive connection sending requests back to back (a minimal HTTP/1.1 client: no library overhead on
    the 2 cores the server shares)."""
    request = (f"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until and budget[0] > 0:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"status {status}")
    except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _phase(port: int, model: str, clients: int, duration: float, max_requests: int
                 ) -> tuple[list[float], list[str], float]:
    body = json.dumps({"model": model, "n": 1, "seed": 0, "format": "png"}).encode()
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, body, start + duration, [max_requests // clients], latencies, errors)
                           for _ in range(clients)))
    return latencies, errors, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def summary(latencies: list[float], errors: list[str], seconds: float) -> dict[str, Any]:
    return {"requests": len(latencies), "seconds": seconds, "images_per_s": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1e3, "p95_ms": percentile(latencies, 95) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3, "errors": len(errors), "error_kinds": sorted(set(errors))[:5]}


def onnx_vs_pytorch(model: Path, n_reps: int, threads: int) -> dict[str, Any]:
    """The same generator through onnxruntime and PyTorch in process, both on `threads` threads (onnxruntime's
    spinning threads off: they would steal the cores of the PyTorch runs interleaved with them)."""
    import onnxruntime as ort

    from ganforge.export import load_generator
    from ganforge.portable import example_inputs, export_file

    network = load_generator(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_file(model, Path(tmp) / "g.onnx", "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = {}
    for batch in (1, 64):
        values = example_inputs(network.inputs, batch)
        feeds = {k: v.numpy() for k, v in values.items()}
        calls = max(1, 256 // batch)

        def pytorch() -> None:
            with torch.inference_mode():
                for _ in range(calls):
                    network(**values)

        def onnxruntime() -> None:
            for _ in range(calls):
                session.run(None, feeds)

        stats = interleave({"pytorch": pytorch, "onnxruntime": onnxruntime}, n_reps, warmup=2)
        out[f"batch {batch}"] = {name: {"ms_per_batch": s.median / calls * 1e3, "seconds": s}
                                 for name, s in stats.items()}
    torch.set_num_threads(torch_threads)
    return out


@benchmark("serve_load", help="ganforge serve under 1/8/32 clients, micro-batching on vs off; onnxruntime vs "
                              "PyTorch", options=_options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both servers run at once; each client count runs the modes in alternation (on, off, off, on, ...) for
    `rounds` slices of `duration` seconds, so that the other jobs of a shared machine weigh on both alike."""
    duration = args.duration or (2.0 if args.quick else 5.0)
    rounds = reps(args, full=4, quick=2)
    clients = [int(c) for c in args.clients.split(",") if c]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else default_export(Path(tmp) / "mnist-dcgan")
        name = model.resolve().name
        wait = [] if args.batch_wait_ms is None else ["--batch-wait-ms", str(args.batch_wait_ms)]
        servers = {mode: start_server(model, flags + (wait if mode == "batching on" else []), args.server_threads)
                   for mode, flags in MODES.items()}
        try:
            for _, port in servers.values():  # warm-up: first requests build caches and thread pools
                asyncio.run(_phase(port, name, max(clients), 1.0, args.max_requests))
            samplers = {mode: RssSampler(proc.pid) for mode, (proc, _) in servers.items()}
            for sampler in samplers.values():
                sampler.__enter__()
            cells: dict[tuple[str, int], dict[str, Any]] = {}
            for count in clients:
                for i in range(rounds):
                    order = list(MODES) if i % 2 == 0 else list(reversed(MODES))
                    for mode in order:
                        latencies, errors, seconds = asyncio.run(_phase(servers[mode][1], name, count, duration,
                                                                        args.max_requests))
                        cell = cells.setdefault((mode, count), {"latencies": [], "errors": [], "seconds": 0.0,
                                                                "rounds": []})
                        cell["latencies"] += latencies
                        cell["errors"] += errors
                        cell["seconds"] += seconds
                        cell["rounds"].append(len(latencies) / seconds)
            for sampler in samplers.values():
                sampler.__exit__()
            batch_means = {}
            for mode, (_, port) in servers.items():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                    batch_means[mode] = _mean_batch(reply.read().decode())
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
        runtimes = onnx_vs_pytorch(model, reps(args, full=7, quick=2), args.server_threads or torch.get_num_threads())
    results = {f"{mode}, {count} clients": {"mode": mode, "clients": count, "per_round_images_per_s": c["rounds"],
                                            **summary(c["latencies"], c["errors"], c["seconds"])}
               for (mode, count), c in cells.items()}
    memory = {mode: [m for _, m in sampler.samples] for mode, sampler in samplers.items()}
    growth = {mode: (m[-1] - m[0]) / m[0] for mode, m in memory.items()}
    rows = [[r["mode"], r["clients"], r["requests"], r["images_per_s"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
             r["errors"]] for r in sorted(results.values(), key=lambda r: (r["clients"], r["mode"]))]
    print_table(f"ganforge serve: {rounds} alternating slices of {duration:g} s per row, n=1 per request, PNG "
                f"replies, server on {args.server_threads} torch thread(s)",
                ["mode", "clients", "requests", "images/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows)
    ratios = {count: statistics.median(on / off for on, off in zip(cells[("batching on", count)]["rounds"],
                                                                   cells[("batching off", count)]["rounds"]))
              for count in clients}
    top = clients[-1]
    targets = {"p50_1_client_ms": results["batching on, 1 clients"]["p50_ms"] if 1 in clients else None,
               "speedup_by_clients": ratios,
               "errors": sum(r["errors"] for r in results.values()),
               "rss_mib": {mode: {"first": m[0], "peak": max(m), "last": m[-1], "growth": growth[mode]}
                           for mode, m in memory.items()},
               "mean_batch_size": batch_means}
    print_table("targets", ["figure", "measured", "target"],
                [["p50, 1 client, batching on (ms)", targets["p50_1_client_ms"], "<= 10"],
                 [f"images/s on / off at {top} clients (median of paired slices)", ratios[top], ">= 3"],
                 ["errors", targets["errors"], "0"],
                 *[[f"RSS growth, {mode} ({memory[mode][0]:.0f} -> peak {max(memory[mode]):.0f} MiB)",
                    f"{growth[mode]:+.1%}", "< 10 %"] for mode in memory],
                 ["mean images per forward pass, batching on", batch_means["batching on"], ""]])
    print_table(f"the same generator in process, ms per batch (median, {args.server_threads} thread(s))",
                ["batch", "pytorch", "onnxruntime"],
                [[key, v["pytorch"]["ms_per_batch"], v["onnxruntime"]["ms_per_batch"]] for key, v in runtimes.items()])
    out = {"model": str(args.model or "untrained mnist-dcgan export"), "duration_s": duration, "rounds": rounds,
           "batch_wait_ms": args.batch_wait_ms,
           "server_threads": args.server_threads, "results": results, "targets": targets,
           "rss_samples": {mode: sampler.samples for mode, sampler in samplers.items()}, "in_process": runtimes}
    if not args.no_write:
        write_result("serve_load", out)
    return out


def _mean_batch(metrics: str) -> float | None:
    values = {}
    for line in metrics.splitlines():
        if line.startswith(("ganforge_batch_size_sum", "ganforge_batch_size_count")):
            values[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    if values.get("ganforge_batch_size_count"):
        return values["ganforge_batch_size_sum"] / values["ganforge_batch_size_count"]
    return None


if __name__ == "__main__":
    main_for("serve_load")
