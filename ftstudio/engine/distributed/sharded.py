"""Sharded training (sharding = fsdp): each process holds a slice of every weight, gradient and
optimizer moment, so a model that does not fit one GPU with its optimizer trains on several.

Built on torch's FSDP (`torch.distributed.fsdp.fully_shard`, the per-parameter FSDP that
accelerate's FSDP plugin also drives): each transformer layer is one unit, gathered just before
its forward and backward and freed after; the rest (embeddings, head) is the root unit, the
task's loss module (parallel.TaskLoss), so whatever the loss touches is gathered by one forward.
Everything that reads the weights as a whole goes through a collective here: the checkpoint gets
the full weights and optimizer state gathered to rank 0's CPU (a standard transformers folder,
as with one process), and a resume hands every rank the full state, each keeping its slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftstudio.engine.distributed.group import ProcessGroup

ROOT_PREFIX = "model."  # the task's loss module holds the model as `model`


def sharding_problem(task: Any, model: Any, strategy_kind: str) -> str:
    """Why this run cannot be sharded ('' when it can), said before any training."""
    from ftstudio.engine.models.freezing import layer_groups
    from ftstudio.engine.tasks.base import Task

    if type(task).saved_weights is not Task.saved_weights:
        return (f"sharding: fsdp is not available for {task.title.lower()} yet (its head is rescaled into your units "
                "when a checkpoint is written); use sharding none.")
    if strategy_kind == "gradual":
        return "sharding: fsdp fixes what trains when it shards the model; gradual unfreezing needs sharding none."
    if not layer_groups(model).layers:
        return "sharding: fsdp needs a model with transformer layers to shard; use sharding none."
    return ""


def shard_model(task: Any, model: Any, group: ProcessGroup) -> Any:
    """Shard `model` across the group (layers as units, the loss module as the root); returns
    the root, through which every forward must go."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from ftstudio.engine.distributed.parallel import task_loss_module
    from ftstudio.engine.models.freezing import layer_groups

    with group.guard("sharding the model"):
        mesh = init_device_mesh(group.device.type, (group.world_size,))
        for layer in layer_groups(model).layers:
            fully_shard(layer, mesh=mesh)
        return fully_shard(task_loss_module(task, model), mesh=mesh)


def full_weights(root: Any, group: ProcessGroup) -> dict[str, Any]:
    """The model's full weights on rank 0's CPU (an empty dict on the other ranks); every rank
    must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    with group.guard("gathering the weights for a checkpoint"):
        state = get_model_state_dict(root, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {key[len(ROOT_PREFIX):]: value for key, value in state.items() if key.startswith(ROOT_PREFIX)}


def load_full_weights(root: Any, weights: dict[str, Any], group: ProcessGroup) -> None:
    """Every rank's copy of a checkpoint's full weights into its slices."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    with group.guard("loading the checkpoint's weights"):
        set_model_state_dict(root, {ROOT_PREFIX + key: value for key, value in weights.items()},
                             options=StateDictOptions(full_state_dict=True, strict=False))


def full_optimizer_state(root: Any, optimizer: Any, group: ProcessGroup) -> dict[str, Any]:
    """The optimizer's full state (keyed by parameter names) on rank 0; every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    with group.guard("gathering the optimizer state for a checkpoint"):
        return get_optimizer_state_dict(root, optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(root: Any, optimizer: Any, state: dict[str, Any], group: ProcessGroup) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    with group.guard("loading the optimizer state"):
        set_optimizer_state_dict(root, optimizer, state, options=StateDictOptions(full_state_dict=True))
