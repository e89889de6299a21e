"""Small HTTP helpers every route module shares: errors, capped body reads, msgspec JSON,
time params.

Bodies are read against a byte cap: a declared Content-Length over the cap is refused before
a byte is read, and a chunked body is cut off as soon as it passes the cap, so one caller can
never make the server buffer more than the cap. A body is JSON (415 otherwise, which also
keeps browsers' cross-site form posts out), and what a decoder cannot take (invalid UTF-8,
nesting deep enough to exhaust the decoder's recursion, NUL characters no store can hold) is
answered 400/422 with a reason, never 500.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import accumulate
from typing import Any, TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from botmon.digits import is_ascii_number
from botmon.limits import MAX_TIMESTAMP, MIN_TIMESTAMP

T = TypeVar("T")

_encoder = msgspec.json.Encoder()

MAX_JSON_DEPTH = 32
"""Deepest nesting of an API body other than ingest (heartbeat status, command arguments,
campaign settings, admin bodies): theirs is 3 or 4, and a status nested 1,000 deep would
otherwise be stored and fail every later read of it."""
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""``\\u0000`` preceded by an even number of backslashes: a NUL in the decoded text."""


class ApiError(HTTPException):
    """An HTTP error with a stable ``reason`` key; rendered as the JSON ``Error`` body."""

    def __init__(
        self,
        status_code: int,
        message: str,
        reason: str,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(status_code, message, headers)
        self.reason = reason
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.detail, "reason": self.reason, **self.details}


class JsonResponse(Response):
    """A JSON response encoded by msgspec (structs, dicts, lists)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def store_unavailable() -> ApiError:
    """The 503 for a store that failed, said the same way whatever the failure: callers
    without an admin's trust get no driver text or file paths (the server log has them)."""
    return ApiError(503, "the store is unavailable; try again shortly", "store_unavailable")


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error.body(), status_code=error.status_code, headers=error.headers)


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON: a browser sends no cross-site JSON without a
    CORS preflight, so this keeps forged form posts (text/plain, urlencoded) out."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(
            415,
            "the body must be JSON: send 'Content-Type: application/json'",
            "unsupported_media_type",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole JSON body; 415 when not declared JSON, 413 when it is (or declares to be)
    larger than ``limit`` bytes."""
    require_json(request)
    return await read_capped(request, limit)


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or 413 when it is (or declares to be) larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not is_ascii_number(declared):
            raise ApiError(400, "Content-Length is not a number", "bad_request")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"request body is larger than the limit of {limit} bytes", "body_too_large"
    )


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not
    count); linear, for bodies of tens of KB."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


@contextmanager
def undecodable_as_400() -> Iterator[None]:
    """Turn what a JSON decoder raises beyond its own errors into 400: invalid UTF-8 in a
    string, and nesting deeper than its recursion limit (about 1,000)."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, f"the body is not valid UTF-8: {exc.reason}", "malformed_json"
        ) from None
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply", "malformed_json") from None


def decode_json(body: bytes, type_: type[T]) -> T:
    """Decode a request body into ``type_``: 400 for malformed JSON (bad UTF-8 included), 422
    for a wrong shape, nesting deeper than :data:`MAX_JSON_DEPTH` or a NUL character."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise ApiError(
            422, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_request"
        )
    if b"\\u0000" in body and _NUL_ESCAPE.search(body):
        raise ApiError(422, "text must not contain NUL characters (\\u0000)", "invalid_request")
    try:
        with undecodable_as_400():
            return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise ApiError(422, f"invalid request: {exc}", "invalid_request") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}", "malformed_json") from None


def parse_time(name: str, text: str | None, default: float) -> float:
    """A query-string instant: epoch seconds or RFC 3339 (``Z`` or an offset); 422 otherwise."""
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            if len(text) > 6 and text[-6] == " ":  # "+hh:mm" arrives as " hh:mm" when unescaped
                text = text[:-6] + "+" + text[-5:]
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ApiError(
                422,
                f"{name} must be epoch seconds or RFC 3339 (2024-05-01T00:00:00Z), "
                f"not {text[:40]!r}",
                "invalid_parameter",
                field=name,
            ) from None
        if parsed.tzinfo is None:
            raise ApiError(
                422, f"{name} needs a time zone (Z or +hh:mm)", "invalid_parameter", field=name
            ) from None
        value = parsed.timestamp()
    if not math.isfinite(value) or not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        raise ApiError(
            422, f"{name} is out of range (2000 to 3000)", "invalid_parameter", field=name
        )
    return value


def parse_int(name: str, text: str | None, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; 422 otherwise."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(
            422, f"{name} must be an integer, not {text[:40]!r}", "invalid_parameter", field=name
        ) from None
    if not low <= value <= high:
        raise ApiError(
            422, f"{name} must be between {low} and {high}", "invalid_parameter", field=name
        )
    return value
