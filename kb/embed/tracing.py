"""The Hugging Face model as a module of three token tensors that returns its last hidden state: what the
ONNX export and the OpenVINO conversion trace. torch and transformers are imported only when it is called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["traceable"]


def traceable(model_dir: Path) -> tuple[Any, tuple[Any, Any, Any]]:
    """The checked weights' model wrapped for tracing, and an example input (ids, attention mask, token types)."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its notes on config fields it does not use are not the user's business
    try:
        base = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    finally:
        hf_logging.set_verbosity(verbosity)

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    example = torch.ones(2, 8, dtype=torch.long)
    return _Hidden(base), (example, torch.ones_like(example), torch.zeros_like(example))
