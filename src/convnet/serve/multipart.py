"""multipart/form-data parts as bytes, whether or not a part names a file.

Starlette turns a part without a `filename` into a str (UTF-8, else Latin-1), so an image
sent as a plain form field came back as different bytes and was refused as "not an image".
Here every part keeps its bytes; python-multipart (which Starlette uses too) does the parsing."""

from __future__ import annotations

from dataclasses import dataclass, field


class MalformedMultipart(ValueError):
    """The body is not multipart/form-data as its Content-Type says (HTTP 400)."""


@dataclass
class Part:
    name: str = ""                    # the form field
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


def parse(content_type: str, body: bytes, max_parts: int) -> list[Part]:
    """The parts of `body`; more than `max_parts` parts, a missing boundary or a broken body
    raise MalformedMultipart with the reason."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedMultipart("no boundary in the Content-Type header")
    parts: list[Part] = []
    header = {"field": bytearray(), "value": bytearray()}

    def part_begin():
        if len(parts) >= max_parts:
            raise MalformedMultipart(f"more than {max_parts} parts")
        parts.append(Part())

    def header_end():
        if bytes(header["field"]).strip().lower() == b"content-disposition":
            _, disposition = parse_options_header(bytes(header["value"]))
            parts[-1].name = _text(disposition.get(b"name", b""))
            if b"filename" in disposition:
                parts[-1].filename = _text(disposition[b"filename"])
        header["field"].clear()
        header["value"].clear()

    callbacks = {
        "on_part_begin": part_begin,
        "on_part_data": lambda data, start, end: parts[-1].data.extend(data[start:end]),
        "on_header_field": lambda data, start, end: header["field"].extend(data[start:end]),
        "on_header_value": lambda data, start, end: header["value"].extend(data[start:end]),
        "on_header_end": header_end,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as e:
        raise MalformedMultipart(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    if parser.state not in (MultipartState.END, MultipartState.BOUNDARY_PADDING):
        raise MalformedMultipart("the body ends before its closing boundary")
    return parts


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
