"""Uploads: a size cap while reading, the file type from its first bytes, decoding off the loop."""

from __future__ import annotations

# Leading bytes of the formats Pillow decodes here. A name or a Content-Type proves nothing;
# these do.
SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"),
    (b"GIF89a", "gif"), (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),
]


class TooLarge(Exception):
    """The body is over the upload cap (HTTP 413)."""


def sniff(data: bytes) -> str | None:
    """The image format these bytes start with, or None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            return kind
    return None


async def read_capped(stream, cap: int) -> bytes:
    """All of an ASGI body stream, refusing (TooLarge) as soon as it passes `cap` bytes, so
    a huge or endless upload is never held in memory."""
    chunks, total = [], 0
    async for chunk in stream:
        total += len(chunk)
        if total > cap:
            raise TooLarge(f"upload is over the cap of {cap:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
