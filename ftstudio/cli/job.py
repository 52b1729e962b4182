"""`ftstudio job`: write a cluster job (settings, torchrun script, SLURM batch script, README).

The settings come as for `ftstudio train` (defaults < --config < --set < flags); the job runs
them on --nodes x --gpus-per-node processes. The files are written by the engine's `write_job`,
the same the window's File > Export job... writes.
"""

from __future__ import annotations

import argparse

from ftstudio.cli.train_flags import add_settings_sources
from ftstudio.engine.distributed.job import DEFAULT_PORT, write_job


def add_job_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `job` command's parser: every train setting flag, plus where and how large the job is."""
    job = subparsers.add_parser(
        "job", help="write a cluster job: settings, a torchrun script and a SLURM batch script",
        description="Write a job folder that runs the same training on a cluster: settings.toml, launch.sh "
                    "(torchrun on each node), slurm.sbatch (sbatch) and a README. Settings as for 'train': "
                    "defaults < --config file < --set < flags.")
    where = job.add_argument_group("the job")
    where.add_argument("--nodes", type=int, default=1, metavar="M", help="machines the job runs on (default 1)")
    where.add_argument("--gpus-per-node", type=int, default=None, metavar="G",
                       help="training processes per node, one per GPU (default: the settings' processes, 1)")
    where.add_argument("--output", default="ftstudio-job", metavar="JOB_DIR",
                       help="the job folder to write (default ./ftstudio-job)")
    where.add_argument("--run-dir", metavar="RUN_DIR",
                       help="the run folder, on a filesystem every node sees (default JOB_DIR/run)")
    where.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"rendezvous port (default {DEFAULT_PORT})")
    where.add_argument("--cpus-per-task", type=int, default=None, metavar="N",
                       help="CPU cores SLURM gives each node's task (default 4 per process)")
    where.add_argument("--cpu", action="store_true",
                       help="CPU processes talking over gloo instead of GPUs (for testing a cluster setup)")
    where.add_argument("--force", action="store_true", help="overwrite the job files of a non-empty JOB_DIR")
    add_settings_sources(job)
    return job


def cmd_job(args: argparse.Namespace) -> int:
    """Write the job folder, then say what was written and how to submit it."""
    from ftstudio.cli.main import settings_from_args  # main imports this module: import when run

    settings = settings_from_args(args)
    gpus = args.gpus_per_node if args.gpus_per_node is not None else settings.processes
    cpu = True if args.cpu else None  # without --cpu: a GPU job unless the settings say device cpu
    files = write_job(settings, nodes=args.nodes, gpus_per_node=gpus, folder=args.output, run_dir=args.run_dir,
                      port=args.port, cpu=cpu, cpus_per_task=args.cpus_per_task, overwrite=args.force)
    print(f"Wrote a job for {files.nodes} node(s) x {files.gpus_per_node} process(es) in {files.folder}:")
    for path in files.written:
        print(f"  {path.name}")
    print()
    for line in files.start_commands():
        print(line)
    return 0
