"""The prediction worker's part for language models (pre-training runs): load the checkpoint or
the run's base model, and answer a text with the guesses for its masks, or its continuation and
next-token probabilities. Plain functions, called on the worker's thread; no Qt here."""

from __future__ import annotations

from typing import Any

TOP_K = 10
MAX_NEW_TOKENS = 40


def load_language_model(model: str, options: dict) -> Any:
    """A checkpoint (or run folder), or with `base` the model spec a run started from, loaded
    for the run's objective."""
    from ftstudio.engine.predict.language_model import LanguageModelPredictor

    if options.get("base"):
        return LanguageModelPredictor.base_model(model, objective=options.get("objective") or None)
    return LanguageModelPredictor(model, prefer_adapter=True)  # (a LoRA run's: its adapter on a shared base)


def language_facts(predictor: Any) -> dict:
    """What the view shows before any answer: the objective, the mask token to type, and whether
    the head is untrained (a base model saved without one)."""
    return {"objective": predictor.objective, "mask_token": predictor.mask_token,
            "head_is_new": bool(predictor.head_is_new)}


def language_answer(predictor: Any, text: str | None, options: dict, control: Any = None) -> dict:
    """The facts, plus "masks" (encoder) or "continuation" and "next_tokens" (decoder) for
    `text`. No text (a warm-up load) or an untrained head (noise) gives the facts alone. With
    `file` in the options: "evaluation", the perplexity on that text file (stops at `control`'s
    check), measured even for an untrained head (it is the run's "before")."""
    facts = language_facts(predictor)
    if options.get("file"):
        from ftstudio.engine.predict.text_perplexity import text_perplexity

        return {**facts, "evaluation": text_perplexity(predictor, options["file"], control=control)}
    if text is None or predictor.head_is_new:
        return facts
    top_k = int(options.get("top_k") or TOP_K)
    if predictor.objective == "masked":
        return {**facts, "masks": predictor.fill_mask(text, top_k=top_k)}
    return {**facts, **predictor.continue_text(text, int(options.get("max_new_tokens") or MAX_NEW_TOKENS), top_k)}
