"""The two heads: LoRA adapters on one frozen base model (peft), saved as adapter folders with provenance.

Each checkpoint is a plain peft adapter folder (`PeftModel.from_pretrained(base, folder)` loads it)
plus `likra_checkpoint.json`: the base model's weights key, the tokenizer's fingerprint, the policy,
training set, size, seed and settings hash. Scores of an adapter are cached under `name@content hash`
of its weights, so scoring the same adapter again costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from likra.config import LoraSettings
from likra.models import LoadedModel
from warehouse.errors import LikraError

PROVENANCE = "likra_checkpoint.json"
WEIGHTS = "adapter_model.safetensors"
STATE = "trainer_state.pt"  # optimizer state, kept in a head's latest checkpoint only


class CheckpointError(LikraError):
    """An adapter folder that is missing, incomplete, or made for another base model or tokenizer."""


@dataclass(frozen=True)
class Checkpoint:
    """A saved head: where it is, what it was trained on, and the key its scores are cached under."""

    head: str
    n_examples: int
    path: Path
    adapter: str  # name@content hash
    loss: float | None = None  # mean answer-token loss since the previous checkpoint
    seconds: float = 0.0  # training time since the previous checkpoint


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the tokenizer's vocabulary and special tokens: adapters only fit the tokenizer they saw."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id]
    return hashlib.sha256(json.dumps([vocab, special]).encode()).hexdigest()[:16]


def add_heads(loaded: LoadedModel, settings: LoraSettings, seed: int, heads: tuple[str, ...]) -> LoadedModel:
    """The base model with a fresh LoRA adapter per head (seeded A, zero B); the base weights stay frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = loaded.model
    for index, head in enumerate(heads):
        # Each head's initialisation depends on the seed and its own name only, not on which heads a run trains.
        torch.manual_seed(seed * 1000 + sum(head.encode()))
        if index == 0:
            model = get_peft_model(model, config, adapter_name=head)
        else:
            model.add_adapter(head, config)
    return LoadedModel(
        model, loaded.tokenizer, loaded.key, loaded.max_length, loaded.add_bos, loaded.device, loaded.dtype
    )


def weights_key(folder: Path, head: str) -> str:
    """`head@<16 hex digits of the adapter weights' sha256>`."""
    digest = hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()[:16]
    return f"{head}@{digest}"


def save_checkpoint(
    model: Any,
    head: str,
    folder: Path,
    provenance: dict,
    base_name: str,
    state: dict | None = None,
    label: str | None = None,
) -> str:
    """Save one head's adapter, its provenance and (to resume from) the trainer state into `folder`,
    atomically; returns its adapter key (named by `label`, default the head's peft name)."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    model.peft_config[head].base_model_name_or_path = base_name
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        # The heads never train the embeddings; "auto" would ask the hub whether the vocabulary changed.
        model.save_pretrained(scratch, selected_adapters=[head], save_embedding_layers=False)
        saved = Path(scratch) / head if (Path(scratch) / head).is_dir() else Path(scratch)
        shutil.move(str(saved), partial)
    key = weights_key(partial, label or head)
    (partial / PROVENANCE).write_text(
        json.dumps({**provenance, "head": label or head, "adapter": key}, indent=1, default=str)
    )
    if state is not None:
        torch.save(state, partial / STATE)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # a killed save leaves no half folder under the final name
    return key


def read_provenance(folder: Path) -> dict:
    """The provenance of a checkpoint folder; CheckpointError when it is not one."""
    marker = folder / PROVENANCE
    if not marker.is_file() or not (folder / WEIGHTS).is_file():
        raise CheckpointError(f"{folder} is not a Likra checkpoint (it lacks {PROVENANCE} or {WEIGHTS})")
    return json.loads(marker.read_text())


def check_fits(folder: Path, loaded: LoadedModel) -> dict:
    """The checkpoint's provenance, after checking it was trained on this base model and tokenizer."""
    provenance = read_provenance(folder)
    if provenance.get("base_model") != loaded.key:
        raise CheckpointError(
            f"checkpoint {folder} was trained on base model {provenance.get('base_model')!r}, "
            f"not {loaded.key!r}: evaluate it with the model it was trained on"
        )
    if provenance.get("tokenizer") != tokenizer_fingerprint(loaded.tokenizer):
        raise CheckpointError(f"checkpoint {folder} was trained with another tokenizer than {loaded.key!r}'s")
    return provenance


def saved_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """Every complete checkpoint under a run folder, by head and size."""
    found = []
    for marker in sorted(run_dir.glob(f"*/n-*/{PROVENANCE}")):
        if marker.parent.name.endswith(".partial"):
            continue
        p = json.loads(marker.read_text())
        found.append(
            Checkpoint(
                p["head"],
                int(p["n_examples"]),
                marker.parent,
                p["adapter"],
                p.get("loss"),
                float(p.get("seconds", 0.0)),
            )
        )
    return found


def peft_name(adapter: str) -> str:
    """The name an adapter key is loaded under in peft (`positive@3f2a...` -> `positive_3f2a...`)."""
    return adapter.replace("@", "_")


def with_adapters(loaded: LoadedModel, checkpoints: list[Checkpoint]) -> LoadedModel:
    """The base model with every checkpoint loaded as an adapter named `peft_name(checkpoint.adapter)`, after
    checking each was trained on this base model and tokenizer."""
    from peft import PeftModel

    model = loaded.model
    for checkpoint in checkpoints:
        check_fits(checkpoint.path, loaded)
        name = peft_name(checkpoint.adapter)
        if isinstance(model, PeftModel):
            if name not in model.peft_config:
                model.load_adapter(str(checkpoint.path), adapter_name=name)
        else:
            model = PeftModel.from_pretrained(model, str(checkpoint.path), adapter_name=name)
    model.eval()
    return LoadedModel(
        model, loaded.tokenizer, loaded.key, loaded.max_length, loaded.add_bos, loaded.device, loaded.dtype
    )
