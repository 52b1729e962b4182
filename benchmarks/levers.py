"""Each speed lever alone, on the embedded model: `python benchmarks/levers.py [--steps N]`.

One training step (forward, backward, clip, AdamW) on a fixed batch of 32 real tweets. Levers
inside the process are timed step by step in turn in one child process (each step paired with
a base step taken moments apart, so load from elsewhere falls on both); the OpenMP wait policy,
read when torch loads, is compared in alternating child processes. Both run as the machine is
found and next to one busy neighbour process (what the window's UI thread, a browser or another
job is to a 2-core laptop). The padding levers are counted on the sample's real token lengths.
Writes benchmarks/results/levers.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HERE, REPO, quiet_libraries  # noqa: E402

CLEAN_ENV = dict(os.environ)
# In-process variants: timed step by step in turn inside one process, so every variant meets the
# same load; each is compared with "base" (what torch and transformers do by default) step by step.
IN_PROCESS: dict[str, dict[str, Any]] = {
    "base (fused AdamW, sdpa, fp32)": {},
    "FastDropout, dropout modules only": {"fast_dropout": True, "attention_dropout": False},
    "FastDropout, attention dropout too": {"fast_dropout": True},
    "FastDropout + first-token top layer (ftstudio's default)": {"fast_dropout": True, "top_layer": True},
    "AdamW foreach (not fused)": {"fused": False},
    "bf16 autocast": {"bf16": True},
    "eager attention": {"attention": "eager"},
    "1 thread": {"threads": 1},
    "torch.compile (steady state)": {"compile": True},
}
# Process-level variants (environment read when torch loads): alternating child processes.
ENVIRONMENTS = {"default OpenMP wait policy": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}


def _burn(stop_at: float) -> None:
    while time.time() < stop_at:
        sum(i * i for i in range(10000))


def _setup(batch_size: int):
    quiet_libraries()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftstudio.engine.data.sample import load_sample
    from ftstudio.engine.models.sources import default_model_path

    path = str(default_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = list(load_sample()["text"][:batch_size])
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    batch["labels"] = torch.arange(batch_size) % 3

    def make(attention: str = "sdpa"):
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3, attn_implementation=attention)
        return model.train()

    return torch, batch, make


def _step(torch, model, forward, optimizer, batch, bf16: bool) -> float:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = forward(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def in_process_child(steps: int, batch_size: int, names: list[str]) -> dict[str, Any]:
    """Runs inside a child: every variant one step in turn, `steps` rounds after a warm-up."""
    torch, batch, make = _setup(batch_size)
    default_threads = torch.get_num_threads()
    runners = {}
    for name in names:
        options = IN_PROCESS[name]
        model = make(options.get("attention", "sdpa"))
        if options.get("fast_dropout"):
            from ftstudio.engine.speed.fast_dropout import use_fast_dropout

            use_fast_dropout(model, "cpu")
            if not options.get("attention_dropout", True):
                model.set_attn_implementation("sdpa")
        if options.get("top_layer"):
            from ftstudio.engine.speed.first_token_top_layer import use_first_token_top_layer

            probe = {k: v for k, v in batch.items() if k != "labels"}
            reason = use_first_token_top_layer(model, probe)
            if reason is not None:
                raise RuntimeError(f"first-token top layer not used: {reason}")
        forward = torch.compile(model) if options.get("compile") else model
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=options.get("fused", True))
        runners[name] = (options, model, forward, optimizer)
    times: dict[str, list[float]] = {name: [] for name in names}
    first: dict[str, float] = {}
    for round_ in range(steps + 2):
        for name, (options, model, forward, optimizer) in runners.items():
            torch.set_num_threads(options.get("threads", default_threads))
            took = _step(torch, model, forward, optimizer, batch, bool(options.get("bf16")))
            first.setdefault(name, took)
            if round_ >= 2:
                times[name].append(took)
    torch.set_num_threads(default_threads)
    base = times[names[0]]
    return {name: {"step_s": statistics.median(t), "first_step_s": first[name],
                   "speedup_vs_base": statistics.median(b / x for b, x in zip(base, t))}
            for name, t in times.items()} | {"_width": int(batch["input_ids"].shape[1])}


def env_child(steps: int, batch_size: int) -> dict[str, Any]:
    torch, batch, make = _setup(batch_size)
    model = make()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    times = [_step(torch, model, model, optimizer, batch, False) for _ in range(steps + 2)][2:]
    return {"step_s": statistics.median(times)}


def run_child(call: str, env_add: dict[str, str], neighbour: bool) -> dict[str, Any]:
    code = f"import json,sys;sys.path.insert(0,{str(HERE)!r});import levers;print('RESULT',json.dumps(levers.{call}))"
    burner = None
    if neighbour:
        burner = multiprocessing.Process(target=_burn, args=(time.time() + 3600,), daemon=True)
        burner.start()
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(CLEAN_ENV, **env_add),
                             capture_output=True, text=True, timeout=3600)
    finally:
        if burner is not None:
            burner.terminate()
            burner.join()
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    return json.loads(line[7:]) if line else {"error": out.stderr[-800:]}


def padding_levers(max_lengths=(64, 128), batch_sizes=(16, 32)) -> list[dict[str, Any]]:
    """Tokens computed per real token over one epoch of the sample's training rows."""
    import numpy as np
    from transformers import AutoTokenizer

    from ftstudio.engine.data.batching import TokenizedSplit, train_batches
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.models.sources import default_model_path
    from ftstudio.engine.settings import TrainSettings

    texts = list(prepare_data(TrainSettings()).splits["train"]["text"])
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()))
    rows = []
    for max_length in max_lengths:
        lengths = np.array([len(x) for x in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]])
        split = TokenizedSplit([[]] * len(lengths), np.zeros(len(lengths), dtype=np.int64), lengths)
        real = int(lengths.sum())
        for batch in batch_sizes:
            padded = {name: int(sum(len(b) * lengths[b].max() for b in train_batches(split, batch, 42, 0, grouped)))
                      for name, grouped in (("dynamic", False), ("grouped", True))}
            rows.append({"max_length": max_length, "batch": batch, "pad_to_longest_text": len(lengths) * int(lengths.max()) / real,
                         "dynamic": padded["dynamic"] / real, "dynamic+grouped": padded["grouped"] / real})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant (in-process) or per child")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the process-level variants")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default=str(HERE / "results" / "levers.json"))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"padding": padding_levers(), "in_process": {}, "environment": {}}
    names = list(IN_PROCESS)
    for neighbour in (False, True):
        condition = "one busy neighbour" if neighbour else "as found"
        results["in_process"][condition] = run_child(f"in_process_child({args.steps}, {args.batch}, {names!r})", {},
                                                     neighbour)
        print(condition, results["in_process"][condition], flush=True)
        rounds: dict[str, list[float]] = {name: [] for name in ENVIRONMENTS}
        for _ in range(args.rounds):
            for name, env_add in ENVIRONMENTS.items():
                rounds[name].append(run_child(f"env_child({args.steps}, {args.batch})", env_add, neighbour).get("step_s", 0.0))
        base = rounds[next(iter(ENVIRONMENTS))]
        results["environment"][condition] = {
            name: {"step_s": statistics.median(t), "speedup_vs_base": statistics.median(b / x for b, x in zip(base, t) if x)}
            for name, t in rounds.items()}
        print(condition, results["environment"][condition], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(format_levers(results))
    return 0


def format_levers(results: dict[str, Any]) -> str:
    lines = ["| lever | condition | step s | speed vs base | first step s |", "|---|---|---:|---:|---:|"]
    for condition, variants in results["in_process"].items():
        for name, r in variants.items():
            if not name.startswith("_") and "step_s" in r:
                lines.append(f"| {name} | {condition} | {r['step_s']:.3f} | {r['speedup_vs_base']:.2f}x | {r['first_step_s']:.1f} |")
    for condition, variants in results["environment"].items():
        for name, r in variants.items():
            lines.append(f"| {name} | {condition} | {r['step_s']:.3f} | {r['speedup_vs_base']:.2f}x | |")
    lines += ["", "| max length | batch | pad to longest text | dynamic | dynamic + length-grouped |",
              "|---:|---:|---:|---:|---:|"]
    for row in results["padding"]:
        lines.append(f"| {row['max_length']} | {row['batch']} | {row['pad_to_longest_text']:.2f} | {row['dynamic']:.2f} "
                     f"| {row['dynamic+grouped']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
