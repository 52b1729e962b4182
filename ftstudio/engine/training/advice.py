"""Advice before a run starts: too few optimizer steps for the learning rate, or a LoRA run at
a full fine-tuning rate.

A short trial (a few hundred rows, an epoch or two) takes tens of steps; with warmup and a linear
decay, a BERT-style encoder at the default 5e-5 barely moves in that many, and a lopsided data set
stays on its most common answer, a majority class or all-O tags (the embedded sample, 600 rows,
2 epochs, batch 16 = 76 steps: macro F1 0.26 at 5e-5, 0.39 at 1e-4, 0.57 at 2e-4). What such a run needs is roughly a budget of
learning rate times steps; below it, a higher rate (up to 2e-4, where fine-tuning is still stable)
is suggested. The window shows the advice in Setup with a button; the run logs it at the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftstudio.engine.settings import TrainSettings, format_number
from ftstudio.engine.training.optimization import count_steps

# learning rate x optimizer steps below which a run is likely to learn little: 5e-5 wants ~300
# steps, 1e-4 ~150, 2e-4 ~75 (the default run: 1,215 steps at 5e-5, well above).
LEARNING_BUDGET = 0.015
SHORT_RUN_RATES = (1e-4, 2e-4)  # what is suggested, the lowest that meets the budget first
# LoRA's adapters start at zero (B = 0) and only they and the head move, so the rates that suit
# them are about ten times full fine-tuning's (peft's examples use 1e-4..1e-3); below LORA_LOWEST
# a run mostly trains its head.
LORA_LOWEST = 1e-4
LORA_RATE = 5e-4


@dataclass(frozen=True)
class LearningRateAdvice:
    """Why the planned run may not learn, and the learning rate that suits it."""

    message: str
    learning_rate: float

    @property
    def action(self) -> str:
        """The button's text: "Use 2e-4"."""
        return f"Use {rate_text(self.learning_rate)}"


def learning_rate_advice(total_steps: int, learning_rate: float, optimizer: str = "adamw",
                         language_model: bool = False, strategy: str = "full") -> LearningRateAdvice | None:
    """Advice when `total_steps` optimizer steps at `learning_rate` are too few to learn, or when
    a LoRA run (`strategy` "lora") has a full fine-tuning rate; None when they suffice (or for
    SGD, whose rates are on another scale). `language_model`: pre-training, which has no "most
    common answer" to get stuck on."""
    if optimizer != "adamw" or total_steps <= 0 or not 0 < learning_rate < math.inf:
        return None  # no advice on a rate validation refuses (0, negative, NaN or infinite)
    if strategy == "lora" and learning_rate < LORA_LOWEST:
        return LearningRateAdvice(
            f"LoRA adapters start from zero and usually want about ten times full fine-tuning's learning "
            f"rate: {rate_text(learning_rate)} will move them slowly; {rate_text(LORA_LOWEST)} to 1e-3 suits LoRA.",
            LORA_RATE)
    if learning_rate * total_steps >= LEARNING_BUDGET:
        return None
    suggested = next((rate for rate in SHORT_RUN_RATES if rate * total_steps >= LEARNING_BUDGET),
                     SHORT_RUN_RATES[-1])
    if suggested <= learning_rate:
        return None  # already as high as we would suggest: only more steps help
    low, high = SHORT_RUN_RATES[0], SHORT_RUN_RATES[-1]
    suits = (f"{rate_text(low)} to {rate_text(high)} suits short trials" if learning_rate < low
             else f"{rate_text(suggested)} suits a run this short")
    stuck = "perplexity may hardly fall" if language_model else "the model may not move off the most common answer"
    message = (f"Only {total_steps} optimizer steps planned: at learning rate {rate_text(learning_rate)} "
               f"{stuck}; {suits}.")
    if suggested * total_steps < LEARNING_BUDGET:
        message += " More epochs or rows would help too."
    return LearningRateAdvice(message, suggested)


def run_advice(train_rows: int, settings: TrainSettings) -> LearningRateAdvice | None:
    """`learning_rate_advice` for `settings` on `train_rows` training rows."""
    total_steps = count_steps(max(train_rows, 1), settings)[1]
    return learning_rate_advice(total_steps, settings.learning_rate, settings.optimizer,
                                language_model=settings.task == "pretrain", strategy=settings.strategy_kind)



def rate_text(rate: float) -> str:
    """A learning rate as people write one: 5e-5, 2e-4, 2.5e-4 (0.001 and up as plain numbers)."""
    if not math.isfinite(rate) or rate <= 0 or rate >= 1e-3:
        return format_number(rate)
    mantissa, exponent = f"{rate:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
