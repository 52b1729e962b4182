"""A cluster job: the files that run one training on several nodes, written into a job folder.

`write_job` writes `settings.toml` (the settings, with `processes` = GPUs per node), `launch.sh`
(torchrun, run once on each node), `slurm.sbatch` (the same torchrun started by `srun` on every
node of a SLURM allocation) and a README saying how to start it and where the run lands. The
window's "Export job..." and `ftstudio job` both call it, so they write the same files.

The nodes meet through torchrun's c10d rendezvous on the first node, which numbers them as they
join: no node rank to hand out. Paths are quoted for the shell; local paths in the settings are
made absolute, as every node must find them; the Python on the cluster is `python` (or $PYTHON),
never this machine's interpreter.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftstudio.engine.errors import SettingsError

SETTINGS_NAME, LAUNCH_NAME, SLURM_NAME, README_NAME = "settings.toml", "launch.sh", "slurm.sbatch", "README.md"
DEFAULT_PORT = 29500
CPUS_PER_PROCESS = 4  # cores SLURM reserves per training process unless told otherwise
_SPECIAL_MODELS = ("", "default")
# A Hub id: "name" or "owner/name"; anything else that is not found here is meant as a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class JobFiles:
    """What `write_job` wrote: the job folder, its four files, and the run folder the job will fill."""

    folder: Path
    settings: Path
    launch: Path
    slurm: Path
    readme: Path
    run_dir: Path
    nodes: int
    gpus_per_node: int
    port: int = DEFAULT_PORT
    cpu: bool = False

    def start_commands(self) -> list[str]:
        """How to start this job, in lines (see `start_commands`)."""
        return start_commands(self.folder, self.nodes, self.gpus_per_node, run_dir=self.run_dir, port=self.port,
                              cpu=self.cpu)

    @property
    def written(self) -> tuple[Path, ...]:
        return self.settings, self.launch, self.slurm, self.readme

    @property
    def submit_command(self) -> str:
        """The command that submits the job to SLURM."""
        return submit_command(self.folder)


def submit_command(folder: str | Path) -> str:
    """`cd <job folder> && sbatch slurm.sbatch`: from the job folder, so SLURM's log lands there."""
    return f"cd {shlex.quote(str(folder))} && sbatch {SLURM_NAME}"


def start_commands(folder: str | Path, nodes: int, gpus_per_node: int, *, run_dir: str | Path | None = None,
                   port: int = DEFAULT_PORT, cpu: bool = False) -> list[str]:
    """The lines that say how to start a job (the CLI prints them, the window previews them)."""
    folder = Path(folder)
    run = Path(run_dir) if run_dir else folder / "run"
    master = "MASTER_ADDR=<first node> " if nodes > 1 else ""
    return [
        f"With SLURM:  {submit_command(folder)}",
        f"Without SLURM, on {'each node' if nodes > 1 else 'the node'}:  "
        f"{master}bash {shlex.quote(str(folder / LAUNCH_NAME))}",
        f"Each node runs ({gpus_per_node} {'CPU processes' if cpu else 'GPUs'}):  "
        + torchrun_preview(folder, nodes, gpus_per_node, run, port),
        f"Run folder:  {run}",
    ]


def torchrun_preview(folder: Path, nodes: int, gpus_per_node: int, run: Path, port: int) -> str:
    """The torchrun line the scripts run, with its shell variables shown as what they stand for."""
    endpoint = f"{'<first node>' if nodes > 1 else 'localhost'}:{port}"
    return " ".join(_torchrun_words(str(nodes), gpus_per_node, endpoint, "<job id>",
                                    shlex.quote(str(folder / SETTINGS_NAME)), shlex.quote(str(run)), "python"))


def write_job(settings: Any, *, nodes: int, gpus_per_node: int, folder: str | Path,
              run_dir: str | Path | None = None, port: int = DEFAULT_PORT, cpu: bool | None = None,
              cpus_per_task: int | None = None, overwrite: bool = False) -> JobFiles:
    """Write a job folder that trains `settings` on `nodes` x `gpus_per_node` processes.

    `cpu`: gloo processes on CPUs instead of GPUs (None: when the settings' device is cpu).
    `run_dir`: the run folder (default `<folder>/run`); it must be on a filesystem every node sees.
    A non-empty `folder` is refused unless `overwrite`; every refusal is a SettingsError in words.
    """
    _check_count(nodes, "--nodes", "nodes")
    _check_count(gpus_per_node, "--gpus-per-node", "GPUs (processes) per node")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise SettingsError(f"--port must be a port number from 1 to 65535, got {port!r}.")
    cpu = settings.device == "cpu" if cpu is None else cpu
    cpus = cpus_per_task if cpus_per_task is not None else CPUS_PER_PROCESS * gpus_per_node
    _check_count(cpus, "--cpus-per-task", "CPU cores per node")
    job = job_settings(settings, gpus_per_node=gpus_per_node, cpu=cpu)
    folder = Path(folder).expanduser().absolute()
    run = Path(run_dir).expanduser().absolute() if run_dir else None
    if run is not None and run == folder:
        raise SettingsError("The run folder cannot be the job folder itself; give a folder inside or beside it.")
    _prepare_folder(folder, overwrite)
    files = JobFiles(folder, folder / SETTINGS_NAME, folder / LAUNCH_NAME, folder / SLURM_NAME, folder / README_NAME,
                     run or folder / "run", nodes, gpus_per_node, port, cpu)
    from ftstudio.engine.runs.atomic import atomic_write_text

    name = job_name(folder)
    try:
        job.save(files.settings)
        atomic_write_text(files.launch, launch_script(name, nodes, gpus_per_node, run, port, cpus))
        atomic_write_text(files.slurm, slurm_script(name, folder, nodes, gpus_per_node, run, port, cpus, cpu))
        atomic_write_text(files.readme, readme_text(files, job, name))
        for script in (files.launch, files.slurm):
            mode = script.stat().st_mode
            script.chmod(mode | ((mode & 0o444) >> 2))  # executable wherever readable
    except OSError as exc:
        raise SettingsError(f"Cannot write the job files in {folder}: {exc.strerror or exc}.") from None
    return files


def job_settings(settings: Any, *, gpus_per_node: int, cpu: bool) -> Any:
    """The settings the job trains with: validated, `processes` = processes per node, device cuda
    (cpu for a gloo job), and local model and data paths made absolute for every node."""
    settings.validate()
    job = settings.replace(processes=gpus_per_node, device="cpu" if cpu else "cuda",
                           model=_model_for_nodes(settings.model), data=_data_for_nodes(settings.data))
    return job.validate()


def job_name(folder: Path) -> str:
    """The SLURM job name and rendezvous id: `ftstudio-<folder name>`, in safe characters."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name).strip("-.") or "job"
    return f"ftstudio-{stem}"[:64]


# ------------------------------------------------------------------ checks
def _check_count(value: Any, flag: str, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{flag}: the number of {what} must be a whole number of at least 1, got {value!r}.")


def _model_for_nodes(model: str) -> str:
    text = str(model).strip()
    if text.lower() in _SPECIAL_MODELS:
        return text  # the embedded model ships inside ftstudio on every node
    return _path_for_nodes(text, "model", looks_like_path=not _HUB_ID.match(text))


def _data_for_nodes(data: str) -> str:
    from ftstudio.engine.data.formats import file_format

    text = str(data).strip()
    if text.lower() == "sample" or text.lower().startswith("sample:"):
        return text
    return _path_for_nodes(text, "data", looks_like_path=not _HUB_ID.match(text) or file_format(Path(text)) is not None)


def _path_for_nodes(text: str, setting: str, *, looks_like_path: bool) -> str:
    """A path that exists here, made absolute; an absolute (or ~) path kept as the cluster sees it;
    a Hub id kept; a relative path not found here refused (from which folder would a node read it?)."""
    path = Path(text).expanduser()
    if path.exists():
        return str(path.resolve())
    if path.is_absolute() or text.startswith("~"):
        return text
    if looks_like_path or text.startswith("."):
        raise SettingsError(f"{setting}: '{text}' is a relative path and is not found here; give its absolute "
                            "path as the cluster's nodes see it.", setting)
    return text


def _prepare_folder(folder: Path, overwrite: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"The job folder {folder} is a file; choose a new folder.")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise SettingsError(f"The job folder {folder} is not empty; choose a new folder, or replace the job "
                            "files in it (--force).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"Cannot create the job folder {folder}: {exc.strerror or exc}.") from None
    if not os.access(folder, os.W_OK):
        raise SettingsError(f"Cannot write into the job folder {folder}; choose a writable folder.")


# ------------------------------------------------------------------ the scripts
def _torchrun_words(nnodes: str, nproc: int, endpoint: str, rdzv_id: str, config: str, run_dir: str,
                    python: str) -> list[str]:
    """torchrun's command line (as `python -m torch.distributed.run`, so $PYTHON picks the interpreter)."""
    return [python, "-m", "torch.distributed.run", "--nnodes", nnodes, "--nproc-per-node", str(nproc),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", rdzv_id,
            "-m", "ftstudio", "train", "--config", config, "--output", run_dir]


def _torchrun_lines(prefix: str, nnodes: str, nproc: int, rdzv_id: str) -> str:
    words = _torchrun_words(nnodes, nproc, '"$MASTER_ADDR:$MASTER_PORT"', rdzv_id, f'"$JOB_DIR/{SETTINGS_NAME}"',
                            '"$RUN_DIR"', '"$PYTHON"')
    return (f"{prefix}{' '.join(words[:3])} \\\n  {' '.join(words[3:7])} \\\n  {' '.join(words[7:13])} \\\n"
            f"  {' '.join(words[13:])}\n")


def _run_dir_lines(run: Path | None) -> str:
    default = shlex.quote(str(run)) if run else '"$JOB_DIR/run"'
    return f'DEFAULT_RUN_DIR={default}\nRUN_DIR="${{RUN_DIR:-$DEFAULT_RUN_DIR}}"\n'


def _common_lines(port: int, cpus: int, nproc: int) -> str:
    return (f'PYTHON="${{PYTHON:-python}}"\nMASTER_PORT="${{MASTER_PORT:-{port}}}"\n'
            f"# torchrun would set 1 thread per process; give each its share of the node's cores.\n"
            f'export OMP_NUM_THREADS="${{OMP_NUM_THREADS:-{max(1, cpus // nproc)}}}"\n')


def launch_script(name: str, nodes: int, nproc: int, run: Path | None, port: int, cpus: int) -> str:
    """launch.sh: torchrun on this node; run it on every node of the job."""
    run_default = "run/ beside this script" if run is None else shlex.quote(str(run))
    return f"""#!/usr/bin/env bash
# ftstudio job {name}: `ftstudio train` on {nodes} node(s) x {nproc} process(es), through torchrun.
# Run this script once on each node, the same way everywhere. The nodes meet through torchrun's
# c10d rendezvous on MASTER_ADDR:MASTER_PORT, which numbers them as they join (no NODE_RANK needed).
#
# Environment overrides:
#   MASTER_ADDR  the first node's host name, reachable from every node (needed with several nodes;
#                default with one node: localhost)
#   MASTER_PORT  the rendezvous port on MASTER_ADDR (default {port})
#   NNODES       how many nodes take part (default {nodes})
#   RDZV_ID      the same on every node of one run, different for the next run (default {name})
#   RUN_DIR      the run folder, new or empty, on a filesystem every node sees (default {run_default})
#   PYTHON       the Python that has ftstudio and torch installed (default: python)
#   JOB_DIR      the folder holding {SETTINGS_NAME} (default: this script's folder)
set -euo pipefail

JOB_DIR="${{JOB_DIR:-$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)}}"
{_run_dir_lines(run)}NNODES="${{NNODES:-{nodes}}}"
RDZV_ID="${{RDZV_ID:-{name}}}"
{_common_lines(port, cpus, nproc)}if [[ -z "${{MASTER_ADDR:-}}" ]]; then
  if [[ "$NNODES" != 1 ]]; then
    echo "launch.sh: set MASTER_ADDR to the first node's host name, the same on every node." >&2
    exit 2
  fi
  MASTER_ADDR=localhost
fi

{_torchrun_lines("exec ", '"$NNODES"', nproc, '"$RDZV_ID"')}"""


def slurm_script(name: str, folder: Path, nodes: int, nproc: int, run: Path | None, port: int, cpus: int,
                 cpu: bool) -> str:
    """slurm.sbatch: one task per node, each a torchrun meeting the others on the allocation's first node."""
    gpus = "" if cpu else f"#SBATCH --gpus-per-node={nproc}\n"
    return f"""#!/usr/bin/env bash
#SBATCH --job-name={name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
{gpus}#SBATCH --cpus-per-task={cpus}
#SBATCH --output=%x-%j.out
# Your site's limits: remove one '#' to use a line (some sites ask --gres=gpu:{nproc} for GPUs).
##SBATCH --time=24:00:00
##SBATCH --partition=gpu
##SBATCH --account=my-project
#
# ftstudio job {name}: `ftstudio train` on {nodes} node(s) x {nproc} {"CPU process(es)" if cpu else "GPU(s)"}.
# Submit from the job folder: cd <job folder> && sbatch {SLURM_NAME}
# srun starts one torchrun per node; torchrun starts {nproc} training process(es) there, and the nodes
# meet through the c10d rendezvous on the allocation's first node.
# Environment overrides (sbatch passes your environment on): RUN_DIR, PYTHON, MASTER_PORT, JOB_DIR.
set -euo pipefail

WRITTEN_JOB_DIR={shlex.quote(str(folder))}
JOB_DIR="${{JOB_DIR:-$WRITTEN_JOB_DIR}}"
if [[ ! -f "$JOB_DIR/{SETTINGS_NAME}" ]]; then JOB_DIR="${{SLURM_SUBMIT_DIR:-$PWD}}"; fi
if [[ ! -f "$JOB_DIR/{SETTINGS_NAME}" ]]; then
  echo "{SLURM_NAME}: no {SETTINGS_NAME} in $JOB_DIR; submit from the job folder or set JOB_DIR." >&2
  exit 2
fi
{_run_dir_lines(run)}{_common_lines(port, cpus, nproc)}# (sed reads the whole list: `head -n 1` would close the pipe early and, with pipefail, fail the job)
MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)"
echo "ftstudio job $SLURM_JOB_ID: $SLURM_JOB_NUM_NODES node(s), rendezvous $MASTER_ADDR:$MASTER_PORT, run folder $RUN_DIR"

{_torchrun_lines("srun --kill-on-bad-exit=1 ", '"$SLURM_JOB_NUM_NODES"', nproc, '"$SLURM_JOB_ID"')}"""


def readme_text(files: JobFiles, settings: Any, name: str) -> str:
    """README.md of the job: how to start it, what every node must see, where the run lands."""
    world = files.nodes * files.gpus_per_node
    unit = "CPU processes (gloo)" if files.cpu else "GPUs"
    paths = [f"- {what}: `{value}`" for what, value in (("model", settings.model), ("data", settings.data))
             if Path(value).expanduser().is_absolute()]
    port = files.port
    torchrun = torchrun_preview(files.folder, files.nodes, files.gpus_per_node, files.run_dir, port)
    return f"""# ftstudio job {name}

`ftstudio train` on {files.nodes} node(s) x {files.gpus_per_node} {unit}: {world} training processes.
Batch size {settings.batch_size} per process, so {settings.effective_batch_size(processes=world)} texts per \
optimizer step (batch_size x processes x grad_accum {settings.grad_accum}).

| file | what |
|---|---|
| `{SETTINGS_NAME}` | the settings (`processes` = {files.gpus_per_node} per node; `ftstudio train --config` reads it) |
| `{SLURM_NAME}` | the SLURM batch script |
| `{LAUNCH_NAME}` | torchrun on one node, for clusters without SLURM |

## Start it

With SLURM, from this folder (SLURM's log, `{name}-<job id>.out`, lands here):

    {submit_command(files.folder)}

Without SLURM, run `{LAUNCH_NAME}` on every node, the same way, at about the same time; with
several nodes set `MASTER_ADDR` to the first node's host name (port {port}, or `MASTER_PORT`):

    MASTER_ADDR=<first node> bash {shlex.quote(str(files.launch))}

Both run this on each node (torchrun, as `python -m torch.distributed.run`):

    {torchrun}

and take `RUN_DIR`, `PYTHON` (default `python`: the Python with ftstudio and torch) and
`MASTER_PORT` from the environment; their top lines list every override.

## What every node must see

This folder, the run folder and these paths must be on a filesystem every node reads (the same
path on each), and ftstudio must be installed in the nodes' Python:

{chr(10).join(paths) or "- (the embedded model and data ship inside ftstudio)"}

A model or data set named by its Hub id is downloaded by each node, or read from its
Hugging Face cache (`HF_HOME`) when the nodes are offline.

## The run folder

The run lands in `{files.run_dir}`; it must be new or empty when the job starts (set `RUN_DIR`
to start the job again into a new folder). The first process (rank 0) writes it: settings,
status, metrics and checkpoints, as any ftstudio run. The window follows the run live wherever
it can read that folder (a shared or mounted filesystem): start it on the folder holding the run,

    ftstudio --runs-dir {shlex.quote(str(files.run_dir.parent))}

and its Runs tab lists the run and updates it as it trains; File > Open run folder shows the files.
"""
