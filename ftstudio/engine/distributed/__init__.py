"""Training in several processes with torch.distributed: on one machine (`--processes`), under a
launcher (torchrun, srun), and the files that start the same training on a cluster (`job.py`:
a settings file, a torchrun script and a SLURM batch script).
"""
