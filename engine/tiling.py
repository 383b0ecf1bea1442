"""How a long axis (items of a catalogue, positions of a batch) is cut into equal tiles.

Shared by the fused softmax (engine.train.fused_softmax) and the chunked full ranking
(engine.eval.chunked_topk), which walk the catalogue the same way: balanced chunks, the last one's
window clamped to end at the last entry instead of padding the table."""

from __future__ import annotations

ALIGN = 128  # tile widths rounded to a multiple of this (lane width on TPU, tensor-core friendly on GPU)


def chunk_layout(n: int, max_chunk: int, align: int = ALIGN) -> tuple[int, int]:
    """(number of chunks, chunk width) covering n entries with chunks of at most ~max_chunk.

    Chunks are balanced (n=4100, max 4096 gives two chunks of 2176, not 4096 + 4) so the clamped
    last chunk overlaps, and wastes, as little as possible; widths never exceed n."""
    if n < 1 or max_chunk < 1:
        raise ValueError(f"chunk_layout needs n >= 1 and max_chunk >= 1 (got n={n}, max_chunk={max_chunk})")
    step = min(align, max_chunk)
    chunks = _ceil_div(n, max_chunk)
    width = min(_ceil_div(_ceil_div(n, chunks), step) * step, n)
    return _ceil_div(n, width), width


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
