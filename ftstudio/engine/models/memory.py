"""How much device memory a training run needs, estimated from the model's shapes and the
settings alone (no torch): what the Setup page shows beside the device's memory, so a run that
cannot fit is seen before it starts.

Four parts, as the trainer holds them (training/trainer.py, optimization.py, models/loading.py):
- weights: every parameter in float32 (the model loads in float32 whatever its checkpoint's
  dtype; bf16/fp16 precision is autocast over those float32 "master" weights). Under autocast
  each matrix is also cast to 16 bits for the forward pass, and those copies are kept for the
  backward pass: 2 bytes per parameter of the layers the backward pass goes through (one layer
  at a time with gradient checkpointing, except the trainable ones, which autocast caches for
  the whole forward pass). LoRA adds its adapters and peft's trainable copies of the head (and
  of the embeddings with lora_embeddings) beside the frozen originals. lora_4bit holds the
  layers' matrices in NF4: half a byte per parameter plus the double-quantized block scales.
- gradients: 4 bytes per trainable parameter (float32, as the weights they belong to).
- optimizer: AdamW keeps two float32 moments per trainable parameter, SGD one momentum buffer
  (none with momentum 0).
- activations: what the forward pass keeps for the backward pass (`_layer_activations` derives
  it from the layer's shapes), for the layers the backward pass goes through, plus one layer
  being worked on; gradient checkpointing keeps each layer's input instead and recomputes one
  layer at a time.

The batch is taken at its worst: batch_size texts of max_length tokens (batches are padded to
their longest text). A strategy that changes over the run (gradual) is estimated at its widest
epoch. With sharding fsdp each process holds 1/N of the weights, gradients and optimizer state.
It is an estimate: libraries' workspaces, the CUDA context and allocator fragmentation come on
top, which is why `fits` leaves a margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftstudio.engine.models.adapter_plan import adapter_plan
from ftstudio.engine.models.freezing import trainable_flags
from ftstudio.engine.models.module_shapes import DECODER_TYPES, model_modules
from ftstudio.engine.models.objectives import CAUSAL, objective_of_architectures

if TYPE_CHECKING:
    from ftstudio.engine.models.files import ModelInfo

GB = 1e9
# The share of a device's memory a run may plan to fill: the CUDA context, kernels' workspaces
# and allocator fragmentation take the rest (typically several hundred MB to a GB or two).
USABLE_SHARE = 0.9
FLOAT32 = 4
HALF = 2
NF4_BYTES = 0.5 + 0.127 / 8  # 4 bits, plus 8-bit block scales per 64 and their fp32 scales per 256 blocks
# Decoders whose layers keep dropout (GPT-2 style); the modern ones train without any.
_DECODERS_WITH_DROPOUT = {"gpt2", "gpt_neo", "gptj", "opt", "bloom"}
# Decoders whose GELU is transformers' Python tanh formula (gelu_new), which keeps three more
# feed-forward-sized tensors than torch's one-kernel GELU.
_PYTHON_GELU = {"gpt2", "gpt_neo", "gptj", "codegen"}
@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training run needs on its device, in four parts (see the module docstring)."""

    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def fits(self, device_bytes: int | float) -> bool:
        """Whether the run fits in `device_bytes`, keeping USABLE_SHARE's margin."""
        return self.total <= device_bytes * USABLE_SHARE

    def describe(self) -> str:
        """One line: "about 3.1 GB: weights 0.5, gradients 0.1, optimizer 0.2, activations 2.3"
        (MB for runs under a gigabyte)."""
        parts = {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                 "activations": self.activations}
        if self.total >= GB:
            shown = ", ".join(f"{name} {value / GB:.1f}" for name, value in parts.items())
            return f"about {self.total / GB:.1f} GB: {shown}"
        shown = ", ".join(f"{name} {value / 1e6:.0f}" for name, value in parts.items())
        return f"about {self.total / 1e6:.0f} MB: {shown}"


@dataclass(frozen=True)
class _Shapes:
    """What the estimate needs to know about the model (read from ModelInfo)."""

    hidden: int
    intermediate: int
    heads: int
    vocab: int
    embeddings: int  # parameters outside the layers and the head
    layers: list[int]  # parameters per layer, bottom first
    head: int
    decoder: bool
    gated: bool  # a gated feed-forward (Llama's gate/up/down) rather than two matrices; also rotary positions
    dropout: bool
    python_gelu: bool = False  # (see _PYTHON_GELU)


def estimate_training_memory(info: ModelInfo, settings: Any, num_labels: int, *, device_kind: str | None = None,
                             precision: str | None = None) -> MemoryEstimate:
    """The memory a run of `settings` on the model `info` describes needs on one device.

    `num_labels`: the head's outputs (0: pre-training, the model's own language-model head).
    `device_kind` ("cuda", "mps", "cpu"; default from settings.device, "auto" counting as CUDA)
    decides whether attention scores are kept (CUDA's fused attention does not keep them) and
    what precision "auto" means; `precision` ("fp32", "bf16", "fp16") overrides settings.precision
    where the caller has resolved it.
    """
    shapes = _shapes(info, num_labels)
    kind = device_kind or _device_kind(settings.device)
    mixed = (precision or _precision(settings.precision, kind)) in ("bf16", "fp16")
    trained = _trained(shapes, settings, info, num_labels)
    checkpointing = bool(settings.gradient_checkpointing) and trained.backward_layers > 0
    weights = _weight_bytes(shapes, trained, settings, mixed, checkpointing)
    moments = 2 if settings.optimizer == "adamw" else (1 if settings.momentum > 0 else 0)
    states = [int(weights), FLOAT32 * trained.parameters, FLOAT32 * moments * trained.parameters]
    if settings.sharding == "fsdp" and settings.processes > 1:  # each process holds its slice
        states = [value // settings.processes for value in states]
    activations = _activations(shapes, settings, num_labels, kind, mixed, trained.backward_layers, checkpointing)
    return MemoryEstimate(states[0], states[1], states[2], int(activations))


@dataclass(frozen=True)
class _Trained:
    """What a strategy trains, in parameters."""

    parameters: int  # every trainable parameter (LoRA: the adapters and peft's trainable copies)
    in_layers: int  # the layers' own trainable parameters (0 under LoRA)
    backward_layers: int  # layers the backward pass goes through (from the lowest trainable one up)
    extra: int = 0  # parameters LoRA adds beside the model's own (adapters and copies)


def _trained(shapes: _Shapes, settings: Any, info: ModelInfo, num_labels: int) -> _Trained:
    """The strategy's trainable parameters, at its widest epoch (gradual: the last one). LoRA's
    are adapter_plan's (the adapters on the modules the targets reach, r x (in + out) each, from
    the safetensors header; peft's trainable copies of the head and, with lora_embeddings, of
    the embeddings)."""
    kind = settings.strategy_kind
    if kind == "lora":
        plan = adapter_plan(info, settings.lora_rank, settings.lora_targets, settings.lora_embeddings, num_labels)
        added = plan.total - sum(row["params"] for row in plan.rows)  # adapters and copies, beside the model
        return _Trained(plan.trainable, 0, len(shapes.layers), extra=added)
    emb, flags, head = trainable_flags(kind, settings.frozen_layers, max(settings.epochs - 1, 0), len(shapes.layers))
    in_layers = sum(size for size, flag in zip(shapes.layers, flags, strict=True) if flag)
    backward = len(flags) - flags.index(True) if any(flags) else 0
    return _Trained(in_layers + (shapes.embeddings if emb else 0) + (shapes.head if head else 0), in_layers, backward)


def _weight_bytes(shapes: _Shapes, trained: _Trained, settings: Any, mixed: bool, checkpointing: bool) -> float:
    """float32 weights (the layers' matrices in NF4 with lora_4bit), LoRA's additions, and under
    autocast the 16-bit copies of the matrices the backward pass needs (bitsandbytes keeps the
    4-bit ones instead): every layer it goes through, or with checkpointing one layer at a time
    plus the trainable matrices, which autocast caches for the whole forward pass."""
    four_bit = settings.strategy_kind == "lora" and bool(settings.lora_4bit)
    layers = sum(shapes.layers)
    weights = FLOAT32 * (shapes.embeddings + shapes.head + trained.extra)
    weights += (NF4_BYTES if four_bit else FLOAT32) * layers
    if mixed and not four_bit:
        below = len(shapes.layers) - trained.backward_layers
        kept = trained.in_layers + max(shapes.layers, default=0) if checkpointing else sum(shapes.layers[below:])
        weights += HALF * kept
    return weights


# ------------------------------------------------------------------ the model's shapes
def _shapes(info: ModelInfo, num_labels: int) -> _Shapes:
    hidden = info.hidden_size or 768
    intermediate = info.intermediate_size or 4 * hidden
    decoder = objective_of_architectures([info.architecture]) == CAUSAL or info.model_type in DECODER_TYPES
    gated = decoder and info.model_type not in _DECODERS_WITH_DROPOUT and info.model_type not in ("phi",
                                                                                                     "falcon")
    modules = model_modules(info)  # the header's groups as the loaded model has them (GPT-2's h.N too)
    layers = list(modules.layer_params if modules is not None else info.layer_params)
    embeddings = modules.embedding_params if modules is not None else info.embedding_params
    if not layers and info.num_layers > 0:  # no per-layer counts (no safetensors header to read)
        matrices = (3 if gated else 2) * hidden * intermediate + 4 * hidden * hidden
        layers = [matrices + intermediate + 9 * hidden] * info.num_layers
        positions = 0 if gated else info.max_position_embeddings
        estimated = (info.vocab_size + positions) * hidden + 2 * hidden
        rest = info.num_parameters - info.other_params - info.pooler_params - sum(layers)
        embeddings = rest if info.num_parameters and rest > 0 else estimated
    if num_labels > 0:  # a decoder's score layer (no bias), or an encoder's dense/pooler + classifier
        head = hidden * num_labels if decoder else hidden * hidden + hidden + (hidden + 1) * num_labels
    else:  # pre-training: the checkpoint's LM head (none beyond the embeddings when tied)
        head = info.other_params if (decoder or info.other_params) else hidden * hidden + 3 * hidden + info.vocab_size
    return _Shapes(hidden, intermediate, info.num_heads or max(hidden // 64, 1), info.vocab_size, embeddings,
                   layers, head, decoder, gated, dropout=not decoder or info.model_type in _DECODERS_WITH_DROPOUT,
                   python_gelu=info.model_type in _PYTHON_GELU)


# ------------------------------------------------------------------ activations
def _layer_activations(shapes: _Shapes, tokens: int, seq_len: int, mixed: bool, kept_scores: bool,
                       cuda: bool) -> float:
    """Bytes one transformer layer keeps for the backward pass, for `tokens` = batch x seq_len.

    Per token, following what autograd saves (Korthikanti et al. 2022, "Reducing Activation
    Recomputation in Large Transformer Models", section 4.1, generalised to any feed-forward
    width i and to autocast), with b bytes for a matmul's operands (2 under bf16/fp16 autocast,
    else 4), f = 4 for what autocast computes in float32 (norms, softmax, the residual stream),
    and m for a dropout mask (1 byte on CUDA; on the CPU torch keeps it in the input's dtype, b):
      attention: its input (the norm's output) h, queries/keys/values 3h, the context fed to the
        output projection h: 5h x b; with the scores materialised (the math path: CPU/MPS with
        attention dropout) also the softmax output a*s x f, its dropout mask a*s x m and output
        a*s x b; CUDA's fused attention keeps only a log-sum-exp per head (a x f);
      feed-forward: its input h, then for two matrices the activation's input and output 2i,
        for a gated one (Llama) the gate and up outputs, the activated gate and their product 4i:
        (h + 2i or 4i) x b;
      two norms: their inputs 2h x f, and a mean and a deviation each, 4 x f;
      with dropout, the attention-output and feed-forward masks 2h x m;
      model specifics: rotary positions (Llama-style decoders) keep the queries and keys before
        and after rotating, about 2h x b more; GPT-2's Python GELU three more i x b.
    (BERT-base in fp16 on CUDA, i = 4h: 34h + 5as bytes per token, the paper's figure, plus the
    norms' statistics.) Grouped-query attention's smaller keys/values are not counted (a little
    high for those models).
    """
    h, i, a = shapes.hidden, shapes.intermediate, shapes.heads
    b = HALF if mixed else FLOAT32
    mask = 1 if cuda else b
    per_token = 5 * h * b + (h + (4 if shapes.gated else 2) * i) * b + (2 * h + 4) * FLOAT32
    per_token += (2 * h if shapes.gated else 0) * b + (3 * i if shapes.python_gelu else 0) * b
    if shapes.dropout:
        per_token += 2 * h * mask
    if kept_scores:
        per_token += a * seq_len * (FLOAT32 + (mask + b if shapes.dropout else 0))
    else:
        per_token += a * FLOAT32
    return per_token * tokens


def _activations(shapes: _Shapes, settings: Any, num_labels: int, device_kind: str, mixed: bool,
                 backward_layers: int, checkpointing: bool) -> float:
    """Activation bytes: the layers the backward pass goes through keep theirs (or only their
    inputs, checkpointing: then one layer at a time is recomputed), one more layer's worth is
    in flight (the forward of frozen layers, the gradients flowing back), plus the head's and,
    pre-training, the vocabulary logits."""
    seq_len, tokens = settings.max_length, settings.batch_size * settings.max_length
    kept_scores = device_kind != "cuda" and shapes.dropout
    layer = _layer_activations(shapes, tokens, seq_len, mixed, kept_scores, device_kind == "cuda")
    if settings.strategy_kind == "lora" and settings.lora_dropout > 0:
        # A frozen matrix keeps no input (that is for its own gradient), but each adapter keeps its
        # dropped-out input and the mask: the matrices' inputs (3h + i) give way to one input and
        # mask per adapted matrix (auto: 4 attention projections of h, the feed-forward's of h and i).
        h, i = shapes.hidden, shapes.intermediate
        width = HALF if mixed else FLOAT32
        adapted = 4 * h + (2 * h + i if shapes.gated else h + i)
        layer += tokens * (adapted * (width + (1 if device_kind == "cuda" else width)) - (3 * h + i) * width)
    if checkpointing:
        kept = backward_layers * tokens * shapes.hidden * FLOAT32 + layer
    else:
        kept = backward_layers * layer
    total = kept + layer + 2 * tokens * shapes.hidden * FLOAT32  # + the embeddings' and final norm's outputs
    if num_labels == 0:  # pre-training: float32 logits over the vocabulary and their softmax, where scored
        scored = tokens if shapes.decoder else tokens * settings.mlm_probability
        total += scored * shapes.vocab * FLOAT32 * 2
    return total


# ------------------------------------------------------------------ settings
def _device_kind(setting: str) -> str:
    text = str(setting or "auto").strip().lower()
    return "cuda" if text == "auto" else text.split(":")[0]


def _precision(setting: str, device_kind: str) -> str:
    text = str(setting or "auto").strip().lower()
    if text == "auto":
        return "bf16" if device_kind == "cuda" else "fp32"
    return text


# ------------------------------------------------------------------ the device's memory
@dataclass(frozen=True)
class DeviceMemory:
    """The memory a run on a device can use: `kind` cuda/mps/cpu, `name` for people, `bytes`
    (0: unknown) and `what` those bytes are."""

    kind: str
    name: str
    bytes: int
    what: str


def device_memory(setting: str = "auto") -> DeviceMemory:
    """The memory of the device the `device` setting picks (imports torch: call it off the UI thread).

    CUDA: the GPU's total memory from its properties. torch.cuda.mem_get_info would say what is
    free now, but it needs a CUDA context in the asking process, and the window's would hold
    hundreds of MB of the very GPU its training child then needs. MPS: Metal's recommended
    maximum working set (Apple GPUs share the system's memory). CPU: the RAM available now
    (psutil; 0 without it), since a CPU run shares it with everything else.
    """
    from ftstudio.engine.models.devices import resolve_device

    device = resolve_device(setting)
    if device.type == "cuda":
        import torch

        index = device.index if device.index is not None else torch.cuda.current_device()
        properties = torch.cuda.get_device_properties(index)
        return DeviceMemory("cuda", str(properties.name), int(properties.total_memory), "GPU memory")
    if device.type == "mps":
        import torch

        recommended = getattr(torch.mps, "recommended_max_memory", None)
        found = int(recommended()) if recommended is not None else _ram()[0]
        return DeviceMemory("mps", "Apple GPU (MPS)", found, "recommended for the GPU")
    return DeviceMemory("cpu", "CPU", _ram()[1], "RAM available")


def _ram() -> tuple[int, int]:
    """(total, available) RAM in bytes; zeros where psutil is missing."""
    try:
        import psutil
    except ImportError:
        return 0, 0
    memory = psutil.virtual_memory()
    return int(memory.total), int(memory.available)
