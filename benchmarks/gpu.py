"""ftstudio on a GPU against the stock Hugging Face recipe: bf16 training throughput and model
FLOP utilisation on one GPU, and the scaling of two processes when the machine has two GPUs.

    python benchmarks/gpu.py                # on a GPU machine, offline (see benchmarks/README.md, "GPU")
    python benchmarks/gpu.py --smoke        # the same end to end on a CPU: a tiny random BERT, 64 rows, fp32

Peers, each in a fresh child process (`gpu_peers.py`), interleaved case by case with their order
rotating between repeats, on the same model, rows, max_length, batch size, epochs, learning rate
and seed: the stock recipe (`datasets` map, `DataCollatorWithPadding`, `Trainer` with
`bf16=True`) and ftstudio's engine (`train(settings)` with `device="cuda"`, `precision="bf16"`).
A case is a batch size; both peers train every layer, evaluate and save a checkpoint at each
epoch's end, and samples/s counts that whole loop (as the Trainer's `train_runtime` does).

Model FLOP utilisation (MFU): model FLOPs per real token x real tokens per second / the GPU's
peak dense bf16 FLOP/s. FLOPs per token = 2 x P (forward) + 4 x T (backward: gradients of the
activations and of the weights), P the parameters outside embedding tables (a table is looked
up, not multiplied) and T the trainable ones among them: 6 x P when every layer trains. Attention
scores and padding are not counted; tokens are the training rows' tokens after truncation, pad
tokens left out. The peak is the vendor's data-sheet figure for the device's name (`PEAK_BF16`
in gpu_peers.py); a bf16 matmul is measured in the same run as well and each figure is also given
as a share of it (the only peak for a GPU the table does not know).

With two or more GPUs (and an ftstudio whose `train --processes` is implemented), ftstudio also
trains through `python -m ftstudio train --processes 2` (NCCL, batch_size per process) and its
samples/s is set against twice the one-GPU figure (scaling efficiency); otherwise the reason it
was skipped is printed. Prints a table and writes results/gpu_last_run.json (`--out`).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402 - first: it keeps the user's environment for the children (run.CLEAN_ENV)
from common import quiet_libraries, token_lengths, write_task_data  # noqa: E402
from gpu_models import model_folder, smoke_model, write_carried  # noqa: E402
from report import machine_description  # noqa: E402

PEERS = ["hf_trainer", "ftstudio"]
TWO_PROCESSES = "ftstudio_2_processes"
FULL = {"max_train": 0, "max_validation": 0, "batch_sizes": "32,128", "epochs": 1, "max_length": 128,
        "device": "cuda", "precision": "bf16", "matmul_seconds": 2.0}
SMOKE = {"max_train": 64, "max_validation": 32, "batch_sizes": "16", "epochs": 1, "max_length": 32,
         "device": "cpu", "precision": "fp32", "matmul_seconds": 0.5, "matmul_size": 512}
LEARNING_RATE = 1e-4  # as benchmarks/run.py's full fine-tuning
SEED = 42


# ------------------------------------------------------------------ runs
def two_process_skip(probe: dict[str, Any], smoke: bool) -> str | None:
    """Why the two-process run cannot run here, or None."""
    try:
        launcher = importlib.util.find_spec("ftstudio.engine.distributed.launch")
    except ModuleNotFoundError:  # no ftstudio.engine.distributed package at all
        launcher = None
    if launcher is None:
        return "ftstudio train --processes is not implemented in this tree (no ftstudio/engine/distributed/launch.py)"
    if not smoke and probe.get("device_count", 0) < 2:
        return f"{probe.get('device_count', 0)} GPU(s) here: the two-process run needs 2"
    return None


def run_two_processes(cfg: dict[str, Any], scratch: Path, timeout: int) -> dict[str, Any]:
    """`python -m ftstudio train --processes 2` with the one-GPU ftstudio run's settings (its
    batch_size per process); its figures from the run folder's metrics log."""
    import peers

    scratch.mkdir(parents=True, exist_ok=True)
    base = dict(cfg, ftstudio_overrides={"device": cfg["device"], "precision": cfg["precision"]})
    settings = peers.ftstudio_settings(base).replace(processes=2)
    settings.save(scratch / "settings.json")
    run_dir = scratch / "run"
    command = [sys.executable, "-m", "ftstudio", "train", "--config", str(scratch / "settings.json"),
               "--processes", "2", "--output", str(run_dir), "--quiet"]
    started = time.perf_counter()
    with open(scratch / "child.log", "w", encoding="utf-8") as log:
        try:
            # Offline as the peers are (common.quiet_libraries): the machine has no network to wait for.
            env = dict(run.CLEAN_ENV, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
            code = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    wall = time.perf_counter() - started
    if code != 0 or not (run_dir / "metrics.jsonl").is_file():
        tail = (scratch / "child.log").read_text(encoding="utf-8", errors="replace")[-1500:]
        return {"error": f"exit {code}", "log_tail": tail}
    try:
        result = dict(peers.ftstudio_result(run_dir, wall), processes=2)
    except (IndexError, KeyError, ValueError) as exc:
        return {"error": f"no summary in {run_dir / 'metrics.jsonl'}: {exc!r}"}
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    info = next((r for r in records if r.get("event") == "info"), {})
    # The engine's own word for how many processes trained (its info record), against a launcher
    # that silently ran one.
    result["processes_reported"] = info.get("processes")
    result["global_batch"] = info.get("global_batch")
    if info.get("processes") not in (None, 2):
        result["error"] = f"the run reports {info['processes']} process(es), not 2"
    return result


def flops_per_token(parameters: dict[str, int]) -> int:
    """2 x P forward + 4 x T backward (module docstring): 6 x P when every layer trains."""
    matmul = parameters["total"] - parameters["embedding"]
    trainable = parameters["trainable"] - parameters["trainable_embedding"]
    return 2 * matmul + 4 * trainable


def add_figures(result: dict[str, Any], tokens: int, per_token: int, probe: dict[str, Any]) -> None:
    """Tokens/s, model FLOP/s and their shares of the peaks (per GPU) for one finished run."""
    runtime = result["train_runtime"]
    epochs = result["epochs"]
    gpus = result.get("processes", 1)
    result["tokens_per_second"] = tokens * epochs / runtime
    result["model_flops_per_second"] = per_token * result["tokens_per_second"]
    if probe.get("spec_peak_flops"):
        result["mfu"] = result["model_flops_per_second"] / (gpus * probe["spec_peak_flops"])
    if probe.get("matmul_peak_flops"):
        result["share_of_matmul_peak"] = result["model_flops_per_second"] / (gpus * probe["matmul_peak_flops"])


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per (batch size, peer) over repeats, ftstudio against the stock recipe, and the
    two-process scaling efficiency."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        if "error" in r:
            continue
        row = rows.setdefault(f"{r['batch_size']}:{r['peer']}", {"batch_size": r["batch_size"], "peer": r["peer"],
                                                                  "runs": 0})
        row["runs"] += 1
        row.setdefault("_values", []).append(r)
    for row in rows.values():
        values = row.pop("_values")
        for key in ("train_samples_per_second", "tokens_per_second", "train_runtime", "accuracy", "f1",
                    "model_flops_per_second", "mfu", "share_of_matmul_peak", "peak_gpu_memory_mb", "peak_rss_mb"):
            found = [v[key] for v in values if v.get(key) is not None]
            if found:
                row[key] = statistics.median(found)
    out: dict[str, Any] = {"rows": list(rows.values()), "ftstudio_vs_stock": {}, "scaling_efficiency": {}}
    for batch in sorted({row["batch_size"] for row in rows.values()}):
        get = {row["peer"]: row.get("train_samples_per_second") for row in rows.values() if row["batch_size"] == batch}
        if get.get("ftstudio") and get.get("hf_trainer"):
            out["ftstudio_vs_stock"][str(batch)] = get["ftstudio"] / get["hf_trainer"]
        if get.get("ftstudio") and get.get(TWO_PROCESSES):
            out["scaling_efficiency"][str(batch)] = get[TWO_PROCESSES] / (2 * get["ftstudio"])
    return out


def _fmt(value: Any, pattern: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, pattern)


def format_report(report: dict[str, Any]) -> str:
    probe, summary = report["probe"], report["summary"]
    spec = probe.get("spec_peak_flops")
    lines = [
        f"{report['date']} on {probe['device_name']} (x{probe.get('device_count', 0)}); torch "
        f"{probe['versions'].get('torch')}, transformers {probe['versions'].get('transformers')}; "
        f"{report['settings']['model']}, {report['data_rows']['train']:,} training rows, "
        f"max_length {report['settings']['max_length']}, {report['settings']['epochs']} epoch(s), "
        f"{report['settings']['precision']}.",
        f"Peak: data sheet {_fmt(spec, '.0f', 1e-12)} TFLOP/s; measured {probe['matmul_dtype']} matmul "
        f"({probe['matmul_size']}^3) {_fmt(probe['matmul_peak_flops'], '.1f', 1e-12)} TFLOP/s. "
        f"FLOPs per token {report['flops_per_token']:,} (2 x {report['matmul_parameters']:,} forward + "
        f"4 x {report['trainable_matmul_parameters']:,} backward; embedding tables left out).",
        "",
        "| batch | peer | runs | samples/s | tokens/s | train s | val acc | model TFLOP/s | MFU | of matmul peak "
        "| GPU mem MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(summary["rows"], key=lambda r: (r["batch_size"], r["peer"])):
        lines.append(
            f"| {row['batch_size']} | {row['peer']} | {row['runs']} | {_fmt(row.get('train_samples_per_second'), ',.1f')} "
            f"| {_fmt(row.get('tokens_per_second'), ',.0f')} | {_fmt(row.get('train_runtime'), '.1f')} "
            f"| {_fmt(row.get('accuracy'), '.2f', 100)} | {_fmt(row.get('model_flops_per_second'), '.2f', 1e-12)} "
            f"| {_fmt(row.get('mfu'), '.1%')} | {_fmt(row.get('share_of_matmul_peak'), '.1%')} "
            f"| {_fmt(row.get('peak_gpu_memory_mb'), ',.0f')} |")
    lines.append("")
    for batch, ratio in summary["ftstudio_vs_stock"].items():
        lines.append(f"batch {batch}: ftstudio / stock samples/s = {ratio:.2f}x")
    for batch, efficiency in summary["scaling_efficiency"].items():
        lines.append(f"batch {batch} per process: 2 processes / (2 x 1 process) = {efficiency:.0%} scaling efficiency")
    if report.get("two_processes_skipped"):
        lines.append(f"two processes: skipped ({report['two_processes_skipped']})")
    for r in report["results"]:
        if "error" in r:
            lines.append(f"FAILED: batch {r.get('batch_size')} {r.get('peer')} #{r.get('repeat')}: {r['error']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ main
def use_this_tree() -> None:
    """This tree's ftstudio for this process and every child: the GPU machine has no installed
    copy, and a developer's checkout may have another one installed."""
    sys.path.insert(0, str(REPO))
    paths = [str(REPO), *filter(None, [run.CLEAN_ENV.get("PYTHONPATH")])]
    run.CLEAN_ENV["PYTHONPATH"] = os.pathsep.join(paths)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, fp32, a tiny random BERT, 64 rows: checks the "
                                                             "script end to end (its figures mean nothing)")
    parser.add_argument("--model", choices=["minilm", "smollm2"],
                        help="minilm (default): the embedded all-MiniLM-L6-v2 (with --smoke: a tiny random BERT unless "
                             "named); smollm2: SmolLM2-135M in sequence "
                             "classification (see gpu_models.py for where each comes from)")
    parser.add_argument("--model-dir", help="any model folder instead (sequence classification from it)")
    parser.add_argument("--batch-sizes", help=f"comma-separated, one case each (default {FULL['batch_sizes']})")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--max-train", type=int, help="training rows (stratified; 0: all 12,956 of the sample)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each peer per case (medians reported)")
    parser.add_argument("--no-processes", action="store_true", help="skip the two-process run")
    parser.add_argument("--timeout", type=int, default=300,
                        help="seconds allowed to one child run (a device call ends at 600 s)")
    parser.add_argument("--scratch", help="working folder (default: a fresh temporary one; removed at the end "
                                          "unless it existed before or --keep-scratch)")
    parser.add_argument("--out", help="JSON path (default results/gpu_last_run.json; --smoke: in the scratch folder)")
    run.add_shared_options(parser, retries=1)
    parser.add_argument("--write-carried", metavar="DIR",
                        help="write the model copies a GPU machine needs to DIR and stop (gpu_carry.sh)")
    return parser.parse_args(argv)


def options(args: argparse.Namespace) -> dict[str, Any]:
    opts = dict(SMOKE if args.smoke else FULL)
    for key in ("batch_sizes", "epochs", "max_length", "max_train"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    opts["batch_sizes"] = [int(b) for b in str(opts["batch_sizes"]).split(",") if b]
    return opts


def prepare(args: argparse.Namespace, opts: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """The model folder, the data files both peers read, and the real tokens of one epoch."""
    if args.model_dir:
        model_dir, weights = args.model_dir, args.model_dir
    elif args.smoke and args.model is None:
        model_dir, weights = smoke_model(scratch), "tiny random BERT"
    else:
        model_dir, weights = model_folder(args.model or "minilm", scratch)
    data = write_task_data(scratch / "data", "single-label", opts["max_train"], SEED, opts["max_validation"])
    tokens = sum(token_lengths(model_dir, data["dir"], opts["max_length"])["train"])
    print(f"data: {data['rows']} rows, {tokens:,} real training tokens an epoch; model {model_dir}; "
          f"scratch {scratch}", flush=True)
    base = {"model_dir": model_dir, "data_dir": data["dir"], "label_names": data["label_names"], "workload": "full",
            "epochs": opts["epochs"], "max_length": opts["max_length"], "learning_rate": LEARNING_RATE,
            "device": opts["device"], "precision": opts["precision"]}
    return {"base": base, "weights": weights, "data_rows": data["rows"], "epoch_tokens": tokens}


def probe_machine(args: argparse.Namespace, opts: dict[str, Any], base: dict[str, Any], scratch: Path) -> dict[str, Any]:
    probe = run.run_child("gpu_peers.py", "probe", dict(base, matmul_seconds=opts["matmul_seconds"],
                                                        matmul_size=opts.get("matmul_size", 8192)),
                          scratch / "probe", args.timeout)
    if "error" in probe:
        raise SystemExit(f"probe failed: {probe['error']}\n{probe['log_tail']}")
    if not args.smoke and not probe["cuda"]:
        raise SystemExit("No CUDA GPU is visible to torch: this benchmark is for a GPU machine (--smoke runs on a CPU).")
    print(f"device: {probe['device_name']} x{probe['device_count']}; data-sheet bf16 peak "
          f"{_fmt(probe['spec_peak_flops'], '.0f', 1e-12)} TFLOP/s; measured {probe['matmul_dtype']} matmul "
          f"{probe['matmul_peak_flops'] / 1e12:.1f} TFLOP/s", flush=True)
    return probe


def run_one(peer: str, cfg: dict[str, Any], folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    if peer == TWO_PROCESSES:
        return run_two_processes(cfg, folder, args.timeout)
    return run.run_undisturbed("gpu_peers.py", peer, cfg, folder, args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_this_tree()
    if args.write_carried:
        print("\n".join(write_carried(Path(args.write_carried))))
        return 0
    quiet_libraries()
    opts = options(args)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="ftstudio-gpu-bench-"))
    # A folder named by the user that already exists may hold what it reuses (the widened model): kept.
    keep_scratch = args.keep_scratch or (args.scratch is not None and scratch.exists())
    scratch.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else (scratch / "gpu_smoke.json" if args.smoke else
                                           HERE / "results" / "gpu_last_run.json")
    started = time.time()
    prepared = prepare(args, opts, scratch)
    base, tokens = prepared["base"], prepared["epoch_tokens"]
    probe = probe_machine(args, opts, base, scratch)
    parameters = probe["parameters"]
    per_token = flops_per_token(parameters)
    skipped = "--no-processes" if args.no_processes else two_process_skip(probe, args.smoke)
    if skipped:
        print(f"two processes: skipped ({skipped})", flush=True)
    peers = PEERS + ([] if skipped else [TWO_PROCESSES])
    report: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "python": platform.python_version(),
        "command": " ".join(["python", "benchmarks/gpu.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {"model": prepared["weights"], **opts, "repeats": args.repeats, "learning_rate": LEARNING_RATE},
        "data_rows": prepared["data_rows"],
        "epoch_tokens": tokens,
        "probe": probe,
        "flops_per_token": per_token,
        "flops_formula": "2 x parameters outside embedding tables (forward) + 4 x trainable ones (backward), "
                         "per real (non-pad) training token; attention scores not counted",
        "matmul_parameters": parameters["total"] - parameters["embedding"],
        "trainable_matmul_parameters": parameters["trainable"] - parameters["trainable_embedding"],
        "two_processes_skipped": skipped,
        "results": [],
    }
    for batch in opts["batch_sizes"]:
        for repeat in range(args.repeats):
            order = peers[repeat % len(peers):] + peers[: repeat % len(peers)]
            for peer in order:
                print(f"[{time.time() - started:6.0f}s] batch {batch} #{repeat + 1}: {peer} ...", flush=True)
                result = run_one(peer, dict(base, batch_size=batch, seed=SEED), scratch / f"{batch}-{peer}-{repeat}",
                                 args)
                result.update(peer=peer, batch_size=batch, repeat=repeat, epochs=opts["epochs"])
                if "error" in result:
                    print(f"         FAILED: {result['error']}\n{result.get('log_tail', '')}", flush=True)
                else:
                    add_figures(result, tokens, per_token, probe)
                    if result.get("epoch_tokens") not in (None, tokens):
                        result["token_count_mismatch"] = result["epoch_tokens"]
                    print(f"         {result['train_samples_per_second']:,.1f} samples/s, "
                          f"{result['tokens_per_second']:,.0f} tokens/s, acc {result['accuracy']:.4f}", flush=True)
                report["results"].append(result)
                # Written after every run: a command stopped at its time limit still leaves its figures.
                write_report(report, out, started)
    print(format_report(report))
    print(f"JSON: {out}")
    run.clean_scratch(scratch, keep_scratch, spare=out)
    return 1 if any("error" in r for r in report["results"]) else 0


def write_report(report: dict[str, Any], out: Path, started: float) -> None:
    report["duration_seconds"] = round(time.time() - started)
    report["summary"] = summarise(report["results"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
