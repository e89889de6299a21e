"""The checksum manifest of a report directory and its detached Ed25519 signature.

``SHA256SUMS`` is in ``sha256sum`` format (``<hex>  <name>``, names sorted), so a recipient
can check it with ``sha256sum -c SHA256SUMS`` and no botmon. ``SHA256SUMS.sig`` is the raw
64-byte Ed25519 signature of the manifest's bytes, which
``openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig``
checks as well. Signing the manifest rather than each file keeps one signature per report
however many networks it holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
_LINE = re.compile(r"([0-9a-f]{64}) [ *]([^/\\\x00]+)")
_CHUNK = 1 << 20
MAX_KEY_BYTES = 64 * 1024
"""A PEM key is a few hundred bytes; a larger file is not a key."""


class ManifestError(Exception):
    """A key or manifest that cannot be used (one line saying why)."""


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _listed(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.name not in (MANIFEST, SIGNATURE)
    )


def write_manifest(directory: Path, known: Mapping[str, str] | None = None) -> Path:
    """Write ``SHA256SUMS`` over every other file of ``directory`` (flat, names sorted).

    ``known`` gives digests taken while files were written (name -> hex), so thousands of
    per-network files are not opened a second time."""
    known = known or {}
    lines = [f"{known.get(p.name) or file_digest(p)}  {p.name}\n" for p in _listed(directory)]
    out = directory / MANIFEST
    out.write_text("".join(lines), encoding="utf-8")
    return out


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read_key(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _pem_error(path, exc) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ManifestError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read_key(path)
    try:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            # a private key names its public half too: accept it for checking
            key = serialization.load_pem_private_key(data, password=None).public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _pem_error(path, exc) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"{path} is not an Ed25519 public key")
    return key


def _read_key(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_BYTES:
            raise ManifestError(f"{path} is too large to be a PEM key")
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read the key {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        raise ManifestError(f"{path} is not a PEM key (no -----BEGIN line)")
    return data


def _pem_error(path: Path, exc: Exception) -> ManifestError:
    return ManifestError(f"cannot load the key {path}: {str(exc).splitlines()[0]}")


def sign(directory: Path, key_path: Path) -> Path:
    """Write ``SHA256SUMS.sig``, the Ed25519 signature of ``directory``'s manifest."""
    key = load_private_key(key_path)
    out = directory / SIGNATURE
    out.write_bytes(key.sign((directory / MANIFEST).read_bytes()))
    return out


@dataclass
class Verdict:
    """What :func:`verify` found; ``ok`` only when nothing is wrong."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    signature: str = "absent"
    """``valid``, ``invalid``, ``absent`` or ``not checked`` (no public key given)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(directory: Path, public_key: Path | None = None) -> Verdict:
    """Check every file against ``SHA256SUMS``, that no file is missing or unlisted, and,
    with ``public_key``, the signature (which must then exist)."""
    verdict = Verdict()
    manifest = directory / MANIFEST
    if not manifest.is_file():
        verdict.problems.append(f"{MANIFEST} is missing")
        return verdict
    expected: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text("utf-8", "replace").splitlines(), 1):
        match = _LINE.fullmatch(line)
        if match is None:
            verdict.problems.append(f"{MANIFEST} line {number} is not '<sha256>  <name>'")
            continue
        expected[match.group(2)] = match.group(1)
    for name, digest in sorted(expected.items()):
        path = directory / name
        if not path.is_file():
            verdict.problems.append(f"{name}: listed but missing")
        elif file_digest(path) != digest:
            verdict.problems.append(f"{name}: checksum differs (changed after the report)")
        else:
            verdict.checked += 1
    for path in _listed(directory):
        if path.name not in expected:
            verdict.problems.append(f"{path.name}: not in {MANIFEST} (added after the report)")
    sig = directory / SIGNATURE
    if public_key is None:
        verdict.signature = "not checked" if sig.exists() else "absent"
        return verdict
    key = load_public_key(public_key)
    if not sig.is_file():
        verdict.signature = "absent"
        verdict.problems.append(f"{SIGNATURE} is missing: the report is not signed")
        return verdict
    try:
        key.verify(sig.read_bytes(), manifest.read_bytes())
        verdict.signature = "valid"
    except InvalidSignature:
        verdict.signature = "invalid"
        verdict.problems.append(f"{SIGNATURE} does not match {MANIFEST} under this public key")
    return verdict
