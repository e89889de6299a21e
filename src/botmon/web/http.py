"""Small HTTP helpers every route module shares: errors, capped body reads, msgspec JSON,
time params.

Bodies are read against a byte cap: a declared Content-Length over the cap is refused before
a byte is read, and a chunked body is cut off as soon as it passes the cap, so one caller can
never make the server buffer more than the cap.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from botmon.limits import MAX_TIMESTAMP, MIN_TIMESTAMP

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


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


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error.body(), status_code=error.status_code, headers=error.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 when it is (or declares to be) larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
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


def decode_json(body: bytes, type_: type[T]) -> T:
    """Decode a request body into ``type_``: 400 for malformed JSON, 422 for a wrong shape."""
    try:
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
