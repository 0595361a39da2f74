"""Keep libraries' own chatter (download and loading bars, deprecation notes) out of the toolkit's output."""

from __future__ import annotations

import os
import sys
import warnings


def quiet_libraries() -> None:
    """Silence progress bars and warnings of transformers and the hub; the toolkit reports its own progress."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is imported
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:  # imported already: the variables above came too late
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
    for module in ("transformers", "peft", "torch", "trl", "sentence_transformers"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
