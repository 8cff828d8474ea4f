"""What the loaders are told: limits and switches, taken from Settings by the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoadOptions"]


@dataclass(frozen=True)
class LoadOptions:
    """Limits and switches the loaders need (taken from Settings by the pipeline)."""

    max_pages: int = 2000
    max_bytes: int = 50_000_000
    sheet_max_rows: int = 5000
    sheet_max_cols: int = 40
    ocr: bool = True
    ocr_timeout_s: float = 30.0
    ocr_dpi: int = 300
    ocr_language: str = "eng"
    pdf_outline: bool = True  # PDF pages get the heading of the bookmark they fall under
