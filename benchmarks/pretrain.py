"""What continued pre-training buys, and how fast it runs, against the stock recipes.

    .venv/bin/python benchmarks/pretrain.py            # the full case (~40 min on 2 cores)
    .venv/bin/python benchmarks/pretrain.py --smoke    # the same end to end, tiny (~3 min)

Quality: the embedded airline tweets stand in for a user's domain. The unlabeled corpus is every
training text of the sample (12,956 tweets, one per line, no labels); a few hundred labelled rows
(stratified, seeded) are the fine-tuning set; the engine's held-out validation rows are split
into a small validation file (picks the best checkpoint) and a test file (reported). Two arms,
each fine-tuned with the same settings over several seeds, through the CLI a user runs:
  original:   ftstudio train --model default --data finetune/
  pretrained: ftstudio train --task pretrain --model default --data corpus/   (once), then
              ftstudio train --model <pretrain run>/best --data finetune/
No test text is in the corpus. The pre-training run's perplexity before (its step-0 evaluation)
and after (its best checkpoint) are reported with both arms' test accuracy and macro F1.

Speed: the pre-training stage alone, ftstudio against transformers' run_mlm.py recipe
(`pretrain_peers.py`), same model, text, blocks, batch and steps, each in a fresh process, peers
interleaved; samples/s = blocks of max_length tokens per second of training.

Prints tables, writes results/pretrain_last_run.json, and with --readme rewrites the
"Continued pre-training" section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402 - first: it keeps the user's environment for the children (run.CLEAN_ENV)
from common import HERE, REPO  # noqa: E402
from report import machine_description, update_readme  # noqa: E402

README_START = "<!-- pretrain-table:start -->"
README_END = "<!-- pretrain-table:end -->"
SPEED_PEERS = ["hf_mlm", "ftstudio", "ftstudio_full_head"]
FULL = {"labelled": 300, "finetune_validation": 200, "seeds": 3, "corpus_texts": 0, "pretrain_epochs": 2,
        "finetune_epochs": 5, "speed_steps": 30, "speed_repeats": 2}
SMOKE = {"labelled": 60, "finetune_validation": 60, "seeds": 1, "corpus_texts": 400, "pretrain_epochs": 1,
         "finetune_epochs": 1, "speed_steps": 3, "speed_repeats": 1, "test_rows": 100}


def write_data(out: Path, labelled: int, validation_rows: int, corpus_texts: int, test_rows: int = 0,
               seed: int = 42) -> dict[str, Any]:
    """finetune/{train,validation,test}.csv and corpus/train.txt (see the module docstring)."""
    from ftstudio.engine.data.prepare import prepare_data
    from ftstudio.engine.data.splits import subsample
    from ftstudio.engine.settings import TrainSettings

    prepared = prepare_data(TrainSettings(data="sample", task="single-label", seed=seed))
    names = prepared.label_names
    strata, count = prepared.task.strata(prepared.targets("train"))
    chosen = subsample(strata, count, labelled, seed)
    held = prepared.targets("validation")
    order = np.random.default_rng([seed, 7]).permutation(len(held))
    rest = order[validation_rows:][:test_rows] if test_rows else order[validation_rows:]
    pick_validation, pick_test = np.sort(order[:validation_rows]), np.sort(rest)
    finetune = out / "finetune"
    finetune.mkdir(parents=True, exist_ok=True)
    for name, split, rows in (("train", "train", chosen), ("validation", "validation", pick_validation),
                              ("test", "validation", pick_test)):
        texts, targets = prepared.splits[split]["text"], prepared.targets(split)
        with open(finetune / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows([texts[i], names[targets[i]]] for i in rows)
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    texts = [" ".join(t.split()) for t in prepared.splits["train"]["text"]]  # one text per line
    if corpus_texts:
        texts = texts[:corpus_texts]
    (corpus / "train.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return {"finetune": str(finetune), "corpus": str(corpus / "train.txt"), "labelled": len(chosen),
            "validation": len(pick_validation), "test": len(pick_test), "corpus_texts": len(texts)}


def cli_train(args: list[str], log: Path) -> None:
    with open(log, "w", encoding="utf-8") as handle:
        code = subprocess.run([sys.executable, "-m", "ftstudio", "train", "--quiet", *args], cwd=REPO,
                              env=run.CLEAN_ENV, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"ftstudio train {' '.join(args)} failed ({code}); see {log}")


def evals(run_dir: Path, split: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in records if r.get("event") == "eval" and r.get("split") == split]


def quality(data: dict[str, Any], scratch: Path, opts: dict[str, Any], model: str) -> dict[str, Any]:
    pre = scratch / "pretrain-run"
    started = time.perf_counter()
    cli_train(["--task", "pretrain", "--model", model, "--data", data["corpus"], "--epochs",
               str(opts["pretrain_epochs"]), "--max-length", "128", "--batch-size", "32", "--learning-rate", "1e-4",
               "--output", str(pre)], scratch / "pretrain.log")
    pretrain_seconds = time.perf_counter() - started
    history = evals(pre, "validation")
    best = min(history, key=lambda r: r["perplexity"])
    out: dict[str, Any] = {"perplexity_before": history[0]["perplexity"], "perplexity_after": best["perplexity"],
                           "token_accuracy_before": history[0]["token_accuracy"],
                           "token_accuracy_after": best["token_accuracy"], "pretrain_seconds": round(pretrain_seconds),
                           "arms": {"original": [], "pretrained": []}}
    print(f"pre-training: perplexity {out['perplexity_before']:,.1f} -> {out['perplexity_after']:,.1f} "
          f"({pretrain_seconds / 60:.1f} min)", flush=True)
    # The head first: a fresh head learns with the encoder frozen (1 epoch), then every layer trains
    # (1 epoch, from that run), so a random head's gradients never reach the pretrained encoder.
    warm, warmed = scratch / "pretrain-head", scratch / "pretrain-head-then-all"
    cli_train(["--task", "pretrain", "--model", model, "--data", data["corpus"], "--epochs", "1", "--strategy", "head",
               "--max-length", "128", "--batch-size", "32", "--learning-rate", "1e-3", "--output", str(warm)],
              scratch / "pretrain-head.log")
    cli_train(["--task", "pretrain", "--model", str(warm / "best"), "--data", data["corpus"], "--epochs", "1",
               "--max-length", "128", "--batch-size", "32", "--learning-rate", "1e-4", "--output", str(warmed)],
              scratch / "pretrain-head-then-all.log")
    out["perplexity_after_head_first"] = min(r["perplexity"] for r in evals(warmed, "validation"))
    out["arms"]["head_first"] = []
    for seed in range(42, 42 + opts["seeds"]):
        for arm, start in (("original", model), ("pretrained", str(pre / "best")), ("head_first", str(warmed / "best"))):
            folder = scratch / f"finetune-{arm}-{seed}"
            cli_train(["--model", start, "--data", data["finetune"], "--epochs", str(opts["finetune_epochs"]),
                       "--max-length", "64", "--batch-size", "16", "--learning-rate", "1e-4", "--seed", str(seed),
                       "--output", str(folder)], scratch / f"finetune-{arm}-{seed}.log")
            test = evals(folder, "test")[-1]
            out["arms"][arm].append({"seed": seed, "accuracy": test["accuracy"], "f1": test["f1"]})
            print(f"  seed {seed} {arm:>10}: test accuracy {test['accuracy']:.3f}  macro F1 {test['f1']:.3f}", flush=True)
    return out


def speed(data: dict[str, Any], scratch: Path, opts: dict[str, Any], model: str, args: Any) -> dict[str, Any]:
    """Each peer's median samples/s over the repeats (peers interleaved, order rotating)."""
    texts = Path(data["corpus"]).read_text(encoding="utf-8").splitlines()
    folder = scratch / "speed-data"
    folder.mkdir(parents=True, exist_ok=True)
    # A small validation file of its own texts (a text also in train.txt would be dropped as a duplicate).
    (folder / "train.txt").write_text("\n".join(texts[:-64]) + "\n", encoding="utf-8")
    (folder / "validation.txt").write_text("\n".join(texts[-64:]) + "\n", encoding="utf-8")
    cfg = {"model_dir": model, "data_dir": str(folder), "max_length": 128, "batch_size": 16,
           "max_steps": opts["speed_steps"], "learning_rate": 1e-4, "seed": 42}
    found: dict[str, list[dict[str, Any]]] = {peer: [] for peer in SPEED_PEERS}
    for repeat in range(opts["speed_repeats"]):
        order = SPEED_PEERS[repeat % len(SPEED_PEERS):] + SPEED_PEERS[: repeat % len(SPEED_PEERS)]
        for peer in order:
            result = run.run_undisturbed("pretrain_peers.py", peer, cfg, scratch / f"speed-{peer}-{repeat}", args)
            if "error" in result:
                raise SystemExit(f"{peer} failed: {result['error']}\n{result.get('log_tail', '')}")
            found[peer].append(result)
            print(f"  {peer:>18}: {result['train_samples_per_second']:7.2f} samples/s", flush=True)
    medians = {peer: statistics.median(r["train_samples_per_second"] for r in rows) for peer, rows in found.items()}
    return {"config": cfg, "runs": found, "median_samples_per_second": medians,
            "ratio_vs_stock": medians["ftstudio"] / medians["hf_mlm"],
            "ratio_full_head_vs_stock": medians["ftstudio_full_head"] / medians["hf_mlm"]}


def table(report: dict[str, Any]) -> str:
    q, s = report["quality"], report["speed"]
    lines = [f"Machine: {report['machine']}. Date: {report['date']}.", "",
             f"Perplexity on held-out tweets: {q['perplexity_before']:,.0f} before pre-training (a fresh head) -> "
             f"{q['perplexity_after']:,.1f} after ({report['data']['corpus_texts']:,} unlabeled tweets, "
             f"{report['options']['pretrain_epochs']} epochs, {q['pretrain_seconds'] / 60:.0f} min); masked-token "
             f"accuracy {q['token_accuracy_before']:.1%} -> {q['token_accuracy_after']:.1%}.", "",
             f"Head first (the fresh head 1 epoch with the encoder frozen, then 1 epoch of every layer): perplexity "
             f"{q['perplexity_after_head_first']:,.1f} after.", "",
             "| seed | original: accuracy / macro F1 | pre-trained: accuracy / macro F1 | "
             "pre-trained, head first: accuracy / macro F1 |",
             "|---|---|---|---|"]
    arms = q["arms"]
    for i, original in enumerate(arms["original"]):
        cells = [f"{arms[a][i]['accuracy']:.3f} / {arms[a][i]['f1']:.3f}" for a in ("original", "pretrained", "head_first")]
        lines.append(f"| {original['seed']} | " + " | ".join(cells) + " |")
    mean = {arm: (np.mean([r["accuracy"] for r in rows]), np.mean([r["f1"] for r in rows])) for arm, rows in arms.items()}
    lines += ["| mean | " + " | ".join(f"{mean[a][0]:.3f} / {mean[a][1]:.3f}" for a in ("original", "pretrained",
                                                                                   "head_first")) + " |", "",
              f"Fine-tuning: {report['data']['labelled']} labelled tweets, {report['options']['finetune_epochs']} epochs; "
              f"test: {report['data']['test']} held-out tweets.", "",
              "| pre-training speed (blocks of 128 tokens/s) | samples/s | vs stock |", "|---|---|---|"]
    medians = s["median_samples_per_second"]
    for peer, title in (("hf_mlm", "stock run_mlm recipe (Trainer + DataCollatorForLanguageModeling)"),
                        ("ftstudio", "ftstudio"), ("ftstudio_full_head", "ftstudio, vocabulary head on every token")):
        lines.append(f"| {title} | {medians[peer]:.2f} | {medians[peer] / medians['hf_mlm']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny end-to-end check")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--quality-from", default=None,
                        help="take the quality part from an earlier run's JSON (e.g. measured while the machine "
                             "was busy: it does not depend on speed) and measure only the speed")
    parser.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--out", default=None, help="JSON path (default results/pretrain_last_run.json)")
    parser.add_argument("--readme", action="store_true", help="rewrite the section in benchmarks/README.md")
    parser.add_argument("--timeout", type=int, default=3600)
    run.add_shared_options(parser)
    args = parser.parse_args(argv)
    opts = dict(SMOKE if args.smoke else FULL)
    from ftstudio.engine.models.sources import default_model_path

    model = args.model or str(default_model_path())
    scratch = Path(tempfile.mkdtemp(prefix="ftstudio-pretrain-bench-"))
    data = write_data(scratch / "data", opts["labelled"], opts["finetune_validation"], opts["corpus_texts"],
                      opts.get("test_rows", 0))
    print(f"data: {data}", flush=True)
    report: dict[str, Any] = {"date": datetime.date.today().isoformat(), "machine": machine_description(),
                              "command": "benchmarks/pretrain.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                              "options": opts, "data": data}
    if args.quality_from:
        earlier = json.loads(Path(args.quality_from).read_text(encoding="utf-8"))
        report.update(quality=earlier["quality"], data=earlier["data"], options=earlier["options"])
        opts = dict(earlier["options"])
    else:
        report["quality"] = quality(data, scratch, opts, model)
    if not args.skip_speed:
        report["speed"] = speed(data, scratch, opts, model, args)
    out = Path(args.out) if args.out else (scratch / "pretrain.json" if args.smoke else HERE / "results" /
                                           "pretrain_last_run.json")
    out.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    if "quality" in report and "speed" in report:
        text = table(report)
        print(text)
        if args.readme:
            update_readme(HERE / "README.md", report, text, start=README_START, end=README_END)
    print(f"results: {out}")
    run.clean_scratch(scratch, args.keep_scratch, spare=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
