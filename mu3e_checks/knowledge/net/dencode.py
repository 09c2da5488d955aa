"""DEncode, the serialisation DISET (``dips://``) speaks, written from its description.

DIRAC v8 encodes every message with DEncode: ``i<int>e``, ``I<int>e``, ``f<float>e``, ``b1``/``b0``,
``s<len>:<bytes>``, ``u<len>:<utf-8>``, ``n``, ``l...e``, ``t...e``, ``d<key><value>...e`` and
``z`` + ``a``/``d``/``t`` + a tuple for datetime, date and time.  Its decoder falls back to JSON.

This module is ours (DIRAC's is GPL and pulls in DIRAC): a client that must not trust the peer,
so the decoder is strict and bounded: nesting depth, item count and string sizes are limited,
numbers are finite and of a sane length (in DEncode and in the JSON fallback alike), and
anything malformed raises :class:`DecodeError` instead of looping, recursing forever, or
handing ``inf``/``nan`` to a check that does arithmetic with it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any

MAX_DEPTH = 64
MAX_ITEMS = 100_000
MAX_DIGITS = 64  # a number's text: DEncode's terminator window; far beyond any real value
#: What ``repr(float)`` writes for a finite float (DIRAC encodes floats with repr); Python's
#: float() also takes "inf", "nan", "1_0" and spaces, which no DIRAC server sends.
_FLOAT = re.compile(rb"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class DecodeError(ValueError):
    """The bytes are not DEncode (nor JSON); the message says where it went wrong."""


def encode(obj: Any) -> bytes:
    """DEncode ``obj`` (str → ``s``, tuple → ``t``, datetime → ``za``...)."""
    out: list[bytes] = []
    _enc(obj, out, 0)
    return b"".join(out)


def _enc(obj: Any, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("structure nested too deeply to encode")
    if obj is None:
        out.append(b"n")
    elif isinstance(obj, bool):
        out.append(b"b1" if obj else b"b0")
    elif isinstance(obj, int):
        out += [b"i", str(obj).encode(), b"e"]
    elif isinstance(obj, float):
        out += [b"f", repr(obj).encode(), b"e"]
    elif isinstance(obj, (str, bytes)):
        raw = obj.encode() if isinstance(obj, str) else obj
        out += [b"s", str(len(raw)).encode(), b":", raw]
    elif isinstance(obj, _dt.datetime):
        out.append(b"za")
        _enc((obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond,
              None), out, depth + 1)
    elif isinstance(obj, _dt.date):
        out.append(b"zd")
        _enc((obj.year, obj.month, obj.day), out, depth + 1)
    elif isinstance(obj, _dt.time):
        out.append(b"zt")
        _enc((obj.hour, obj.minute, obj.second, obj.microsecond, None), out, depth + 1)
    elif isinstance(obj, (list, tuple)):
        out.append(b"l" if isinstance(obj, list) else b"t")
        for item in obj:
            _enc(item, out, depth + 1)
        out.append(b"e")
    elif isinstance(obj, dict):
        out.append(b"d")
        for key, value in obj.items():
            _enc(key, out, depth + 1)
            _enc(value, out, depth + 1)
        out.append(b"e")
    else:
        raise TypeError(f"DEncode cannot encode {type(obj).__name__}")


def decode(data: bytes) -> Any:
    """The object in ``data``: DEncode first, JSON as DIRAC's own decoder falls back to.

    Trailing bytes after a complete DEncode value are an error: a message is exactly one value.
    """
    if not data:
        raise DecodeError("empty message")
    try:
        value, end = _Decoder(bytes(data)).value(0, 0)
        if end != len(data):
            raise DecodeError(f"{len(data) - end} unexpected bytes after the value")
        return value
    except DecodeError as first:
        try:
            return json.loads(bytes(data).decode("utf-8"), parse_constant=_json_constant,
                              parse_int=_json_int, parse_float=_json_float)
        except DecodeError:
            raise
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise first from None


def finite(number: float, text: object, at: str) -> float:
    """``number``, or :class:`DecodeError` naming a value that is not finite (inf, nan)."""
    if not math.isfinite(number):
        raise DecodeError(f"a number that is not finite ({text!r}) {at}")
    return number


def _json_constant(name: str) -> float:
    raise DecodeError(f"a number that is not finite ({name!r}) in the JSON answer")


def _json_int(text: str) -> int:
    if len(text) > MAX_DIGITS:
        raise DecodeError(f"a number of {len(text)} digits in the JSON answer")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        raise DecodeError(f"a number of {len(text)} characters in the JSON answer")
    return finite(float(text), text, "in the JSON answer")


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.items = 0

    def _byte(self, i: int) -> int:
        if i >= len(self.data):
            raise DecodeError(f"message ends early (at byte {i})")
        return self.data[i]

    def _until(self, i: int, stop: bytes) -> tuple[bytes, int]:
        end = self.data.find(stop, i, i + 64)
        if end < 0:
            raise DecodeError(f"no '{stop.decode()}' terminator near byte {i}")
        return self.data[i:end], end + 1

    def _int(self, raw: bytes, at: int) -> int:
        try:
            return int(raw)
        except ValueError:
            raise DecodeError(f"bad number {raw[:20]!r} at byte {at}") from None

    def value(self, i: int, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise DecodeError("nested too deeply")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise DecodeError("too many items")
        tag = chr(self._byte(i))
        if tag in "iI":
            raw, end = self._until(i + 1, b"e")
            return self._int(raw, i), end
        if tag == "f":
            raw, end = self._until(i + 1, b"e")
            if end < len(self.data) and self.data[end:end + 1] in (b"+", b"-"):
                exp, end = self._until(end, b"e")  # DIRAC's '1e+20' form: mantissa e exponent
                raw = raw + b"e" + exp
            if not _FLOAT.fullmatch(raw):
                if raw.strip().lstrip(b"+-").lower() in (b"inf", b"infinity", b"nan"):
                    raise DecodeError(f"a number that is not finite ({raw.decode()!r}) at "
                                      f"byte {i}")
                raise DecodeError(f"bad float {raw[:20]!r} at byte {i}")
            return finite(float(raw), raw.decode(), f"at byte {i}"), end
        if tag == "b":
            flag = self._byte(i + 1)
            if flag not in (0x30, 0x31):
                raise DecodeError(f"bad boolean at byte {i}")
            return flag == 0x31, i + 2
        if tag in "su":
            raw, start = self._until(i + 1, b":")
            size = self._int(raw, i)
            if size < 0 or start + size > len(self.data):
                raise DecodeError(f"string of {size} bytes at byte {i} runs past the end")
            return self.data[start:start + size].decode("utf-8", "surrogateescape"), start + size
        if tag == "n":
            return None, i + 1
        if tag in "lt":
            items, i = [], i + 1
            while self._byte(i) != 0x65:  # 'e'
                item, i = self.value(i, depth + 1)
                items.append(item)
            return (items if tag == "l" else tuple(items)), i + 1
        if tag == "d":
            out, i = {}, i + 1
            while self._byte(i) != 0x65:
                key, i = self.value(i, depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise DecodeError(f"unhashable dictionary key at byte {i}") from None
                out[key], i = self.value(i, depth + 1)
            return out, i + 1
        if tag == "z":
            kind = chr(self._byte(i + 1))
            parts, end = self.value(i + 2, depth + 1)
            if not isinstance(parts, (list, tuple)) or not all(
                    isinstance(p, int) or p is None for p in parts):
                raise DecodeError(f"bad date/time at byte {i}")
            fields = [p for p in parts if p is not None]
            try:
                if kind == "a":
                    return _dt.datetime(*fields[:7]), end
                if kind == "d":
                    return _dt.date(*fields[:3]), end
                if kind == "t":
                    return _dt.time(*fields[:4]), end
            except (TypeError, ValueError, OverflowError):
                raise DecodeError(f"impossible date/time {parts!r} at byte {i}") from None
            raise DecodeError(f"unknown date/time kind {kind!r} at byte {i}")
        raise DecodeError(f"unknown type tag {tag!r} at byte {i}")
