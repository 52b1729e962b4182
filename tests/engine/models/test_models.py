"""Model sources, folder checks, the HF cache, inspection and loading with a fresh head."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftstudio.engine import hub
from ftstudio.engine.errors import ModelError
from ftstudio.engine.models.files import list_cached_models
from ftstudio.engine.models.loading import load_for_classification, load_model_and_tokenizer
from ftstudio.engine.models.sources import (
    ModelSource,
    default_model_path,
    ensure_local,
    inspect_model,
    resolve_model_source,
)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def copy_parts(src: Path, dst: Path, names) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)
    return dst


# ------------------------------------------------------------------ resolving
def test_default_resolves_to_embedded_folder():
    source = resolve_model_source("default")
    assert source.kind == "default"
    assert Path(source.ref) == default_model_path()
    assert (default_model_path() / "config.json").is_file()
    assert resolve_model_source("").kind == "default"


def test_light_operations_do_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from ftstudio.engine.models.sources import resolve_model_source, inspect_model\n"
        "from ftstudio.engine.models.files import list_cached_models\n"
        "from ftstudio.engine.models.freezing import layer_plan\n"
        "info = inspect_model(resolve_model_source('default'))\n"
        "layer_plan(info, 'bottom-2')\n"
        "list_cached_models()\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {"HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=Path(__file__).resolve().parents[3])
    assert result.returncode == 0, result.stderr


def test_folder_source(tiny_model_dir):
    source = resolve_model_source(str(tiny_model_dir))
    assert source.kind == "folder"
    assert Path(source.ref) == tiny_model_dir.resolve()
    assert ensure_local(source) == tiny_model_dir.resolve()


@pytest.mark.parametrize(
    "parts, extra, message",
    [
        ((), None, "is empty"),
        (("config.json",) + TOKENIZER_FILES, None, "no model weights"),
        (("config.json",) + TOKENIZER_FILES, "pytorch_model.bin", "--allow-pickle"),
        (("config.json", "model.safetensors"), None, "no tokenizer files"),
        (("model.safetensors",) + TOKENIZER_FILES, None, "no config.json"),
    ],
)
def test_bad_folders_are_refused(tiny_model_dir, tmp_path, parts, extra, message):
    folder = copy_parts(tiny_model_dir, tmp_path / "m", parts)
    if extra:
        (folder / extra).write_bytes(b"not really a pickle")  # never read: refused by name
    with pytest.raises(ModelError, match=message) as info:
        resolve_model_source(str(folder))
    assert "\n" not in str(info.value)


def test_pickle_only_folder_allowed_on_opt_in(tiny_model_dir, tmp_path):
    folder = copy_parts(tiny_model_dir, tmp_path / "m", ("config.json",) + TOKENIZER_FILES)
    (folder / "pytorch_model.bin").write_bytes(b"x")
    assert resolve_model_source(str(folder), allow_pickle=True).kind == "folder"


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ('{"hidden_size": 4}', "no model_type")])
def test_bad_config_is_refused(tiny_model_dir, tmp_path, text, message):
    folder = copy_parts(tiny_model_dir, tmp_path / "m", ("model.safetensors",) + TOKENIZER_FILES)
    (folder / "config.json").write_text(text)
    with pytest.raises(ModelError, match=message):
        resolve_model_source(str(folder))


@pytest.mark.parametrize("spec", ["./no/such/folder", "/no/such/folder", "a/b/c", "~/nope-xyz/"])
def test_missing_path_is_not_found(spec):
    with pytest.raises(ModelError, match="not found"):
        resolve_model_source(spec)


def test_file_is_not_a_folder(tiny_model_dir):
    with pytest.raises(ModelError, match="is a file"):
        resolve_model_source(str(tiny_model_dir / "config.json"))


def test_unknown_hub_id_offline_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(ModelError, match="Cannot download 'acme/unknown-model'.*offline"):
        resolve_model_source("acme/unknown-model")
    assert time.monotonic() - started < 5


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    """Offline mode off, but nothing listens at the endpoint: still a quick, clear error."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "_CACHE", {})
    started = time.monotonic()
    with pytest.raises(ModelError, match="cannot be reached"):
        resolve_model_source("bert-base-uncased")
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------ the HF cache
def fake_cache(root: Path, tiny_model_dir: Path) -> Path:
    """A hub cache laid out like huggingface_hub's: blobs, snapshots with links, refs/main."""
    repo = root / "models--acme--tiny-bert"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for i, file in enumerate(sorted(tiny_model_dir.iterdir())):
        blob = repo / "blobs" / f"blob{i}"
        shutil.copy(file, blob)
        (snapshot / file.name).symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    # Odd entries the listing must survive or skip.
    (root / "models--stray-file").write_text("not a folder")
    (root / "models--no-snapshots").mkdir()
    tokenizer_only = root / "models--acme--tokenizer-only" / "snapshots" / "def"
    copy_parts(tiny_model_dir, tokenizer_only, TOKENIZER_FILES)
    broken = root / "models--acme--broken" / "snapshots" / "x1"
    copy_parts(tiny_model_dir, broken, TOKENIZER_FILES)
    (broken / "config.json").write_text("{oops")
    (root / "datasets--acme--data").mkdir()
    return root


def test_list_cached_models(tiny_model_dir, tmp_path, monkeypatch):
    cache = fake_cache(tmp_path / "hub", tiny_model_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    models = {m.repo_id: m for m in list_cached_models()}
    assert set(models) == {"acme/tiny-bert", "acme/broken"}
    tiny = models["acme/tiny-bert"]
    assert tiny.complete and tiny.model_type == "bert" and tiny.architecture == "BertForMaskedLM"
    assert tiny.path == cache / "models--acme--tiny-bert" / "snapshots" / "abc123"
    assert tiny.size_bytes >= (tiny_model_dir / "model.safetensors").stat().st_size
    assert not models["acme/broken"].complete


def test_cached_model_resolves_offline(tiny_model_dir, tmp_path, monkeypatch):
    cache = fake_cache(tmp_path / "hub", tiny_model_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    source = resolve_model_source("acme/tiny-bert")
    assert source.kind == "cache" and source.repo_id == "acme/tiny-bert"
    assert (Path(source.ref) / "config.json").is_file()


def test_cache_listing_survives_missing_or_odd_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "does-not-exist"))
    assert list_cached_models() == []
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setenv("HF_HUB_CACHE", str(not_a_dir))
    assert list_cached_models() == []
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert list_cached_models() == []


# ------------------------------------------------------------------ inspection
def test_inspect_tiny_model(tiny_model_dir):
    info = inspect_model(str(tiny_model_dir))
    assert (info.model_type, info.architecture) == ("bert", "BertForMaskedLM")
    assert (info.num_layers, info.hidden_size, info.num_heads) == (2, 32, 2)
    assert info.max_position_embeddings == 128 and info.vocab_size > 50
    assert len(info.layer_params) == 2 and info.layer_params[0] == info.layer_params[1] > 0
    assert info.pooler_params == 0 and info.other_params > 0  # masked-LM head, no pooler
    total = info.embedding_params + sum(info.layer_params) + info.pooler_params + info.other_params
    assert total == info.num_parameters


def test_inspect_sharded_checkpoint(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_parts(tiny_model_dir, tmp_path / "sharded", ("config.json",) + TOKENIZER_FILES)
    tensors = load_file(str(tiny_model_dir / "model.safetensors"))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in shards.items():
        save_file({k: tensors[k].contiguous() for k in keys}, str(folder / file))
    weight_map = {k: file for file, keys in shards.items() for k in keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert inspect_model(str(folder)).num_parameters == inspect_model(str(tiny_model_dir)).num_parameters


def _hub_error(name: str, message: str) -> Exception:
    """A huggingface_hub error instance without the HTTP response its constructor wants."""
    from huggingface_hub import errors

    cls = getattr(errors, name)
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    return exc


@pytest.mark.parametrize(
    "error, message",
    [
        (("GatedRepoError", "403"), "is gated"),
        (("RepositoryNotFoundError", "404"), "was not found on the Hugging Face Hub"),
        (("LocalEntryNotFoundError", "outgoing traffic has been disabled"), "Cannot download 'acme/x'"),
        (("HFValidationError", "bad id"), "not a valid Hugging Face model id"),
        (OSError(28, "No space left on device"), "Not enough disk space"),
        (ConnectionResetError("reset by peer"), "reset by peer"),
        (RuntimeError("odd client failure"), "odd client failure"),
    ],
)
def test_hub_errors_become_one_line_model_errors(error, message):
    from ftstudio.engine.models.download import hub_call

    exc = _hub_error(*error) if isinstance(error, tuple) else error

    def fail():
        raise exc

    with pytest.raises(ModelError, match=message) as info:
        hub_call("acme/x", fail)
    assert "\n" not in str(info.value)


def test_byte_progress_forwarding():
    from ftstudio.engine.models.download import byte_progress_class

    seen = []
    bar_class = byte_progress_class(lambda done, total: seen.append((done, total)))
    with bar_class(total=100, unit="B") as bar:
        bar.update(40)
        bar.update(60)
    assert seen == [(40, 100), (100, 100)]


# ------------------------------------------------------------------ loading
def test_load_for_classification(tiny_model_dir):
    import torch

    logged = []
    model, tokenizer = load_for_classification(
        str(tiny_model_dir), ["negative", "positive", "neutral"], classifier_dropout=0.25, log_fn=logged.append
    )
    assert model.config.id2label == {0: "negative", 1: "positive", 2: "neutral"}
    assert model.config.label2id == {"negative": 0, "positive": 1, "neutral": 2}
    assert model.config.classifier_dropout == 0.25
    assert any("classifier.weight" in line for line in logged)
    assert tokenizer.pad_token is not None and model.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(["great flight", "awful delayed bag today"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert model(**batch).logits.shape == (2, 3)


def test_checkpoint_with_other_head_gets_fresh_head(tiny_model_dir, tmp_path):
    first = load_model_and_tokenizer(str(tiny_model_dir), ["a", "b"])
    folder = tmp_path / "two-labels"
    first.model.save_pretrained(folder)
    first.tokenizer.save_pretrained(folder)
    again = load_model_and_tokenizer(str(folder), ["x", "y", "z"])
    assert again.model.config.num_labels == 3
    assert any("replaced by a fresh one" in note for note in again.notes)
    assert not any("pooler" in note for note in again.notes)  # the pooler was in the checkpoint


def test_distilbert_dropout_attribute(tiny_model_dir, tmp_path):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    folder = copy_parts(tiny_model_dir, tmp_path / "distil", TOKENIZER_FILES)
    config = DistilBertConfig(vocab_size=80, dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64)
    DistilBertForMaskedLM(config).save_pretrained(folder)
    model, _ = load_for_classification(str(folder), ["a", "b"], classifier_dropout=0.3)
    assert model.config.seq_classif_dropout == 0.3
    assert inspect_model(str(folder)).layer_params and len(inspect_model(str(folder)).layer_params) == 2


def test_architecture_without_classifier(tiny_model_dir, tmp_path):
    folder = copy_parts(tiny_model_dir, tmp_path / "vit", ("model.safetensors",) + TOKENIZER_FILES)
    (folder / "config.json").write_text(json.dumps({"model_type": "vit", "architectures": ["ViTModel"]}))
    with pytest.raises(ModelError, match="ViTModel.*no sequence-classification"):
        load_for_classification(str(folder), ["a", "b"])


def test_corrupt_weights_are_a_model_error(tiny_model_dir, tmp_path):
    folder = copy_parts(tiny_model_dir, tmp_path / "corrupt", ("config.json",) + TOKENIZER_FILES)
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(ModelError, match="Cannot load the weights"):
        load_for_classification(str(folder), ["a", "b"])
    with pytest.raises(ModelError, match="not a readable safetensors"):
        inspect_model(str(folder))


def test_labels_must_be_distinct(tiny_model_dir):
    with pytest.raises(ModelError, match="two distinct label names"):
        load_for_classification(ModelSource("folder", str(tiny_model_dir), "tiny"), ["a", "a"])


@pytest.mark.slow
def test_embedded_default_loads_for_three_labels():
    from ftstudio.engine.models.freezing import layer_groups, layer_plan, parameter_counts

    info = inspect_model("default")
    assert info.num_layers == 6 and len(info.layer_params) == 6
    assert 22_000_000 < info.num_parameters < 23_000_000
    model, tokenizer = load_for_classification("default", ["neg", "pos", "neu"])
    assert len(layer_groups(model).layers) == 6
    trainable, total = parameter_counts(model)
    assert trainable == total and 22_000_000 < total < 23_000_000
    assert layer_plan(info, "full", num_labels=3).total == total
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id
