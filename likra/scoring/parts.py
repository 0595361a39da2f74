"""Running a causal LM's head on chosen positions only."""

from __future__ import annotations

import torch


class ModelParts:
    """The pieces of a causal LM (or a peft model around one) that let its LM head run on chosen positions
    only: the decoder, whose output a forward hook captures, and the head, applied in fp32 with the model's
    final soft-capping. Scoring and training both use it; the head is most of the cost for short answers."""

    def __init__(self, model):
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.get_decoder()
        self.lm_head = base.get_output_embeddings()
        self.config = base.config.get_text_config()

    def capture(self, captured: list) -> torch.utils.hooks.RemovableHandle:
        """Append the decoder's final hidden states to `captured` on every forward pass (remove the handle after)."""
        return self.decoder.register_forward_hook(
            lambda _module, _args, out: captured.append(out[0] if isinstance(out, tuple) else out.last_hidden_state)
        )

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM head on selected hidden states, in fp32, with the model's final soft-capping if any."""
        logits = self.lm_head(hidden).float()
        cap = getattr(self.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits
