"""Training on several processes: torch.distributed groups, their launch, and cluster jobs.

A run on N processes is the same run as on one: every rank prepares the same data and model,
trains on its shard of each global batch (DDP averages the gradients, FSDP shards the weights),
and rank 0 alone writes the run folder. `environment` reads what a launcher (torchrun,
accelerate launch, srun, or our own `launch`) put in the environment; `group` wraps the
torch.distributed process group and its collectives, each with a timeout and a message;
`control` makes a stop or pause reach every rank at the same step; `launch` starts a local group
through torch's elastic launcher and relays rank 0's events; `job` writes cluster job scripts.
"""
