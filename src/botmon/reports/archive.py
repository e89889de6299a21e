"""A report as one zip file (what the API serves) and back into a directory (what the CLI
does with a server's answer).

The zip is built on disk, not in memory, so a report of many networks costs the server disk
space for as long as the answer streams, never its memory. Unpacking accepts only the flat
layout a report has: a member with a directory part, an absolute name or ``..`` is refused.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from botmon.reports.options import ReportRequest
from botmon.store.base import Store

_MEMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
MAX_MEMBERS = 100_000
"""More files than a report of every AS in the world has."""


class ArchiveError(Exception):
    """A zip that is not a botmon report."""


def zip_name(req: ReportRequest) -> str:
    label = re.sub(r"[^A-Za-z0-9-]+", "_", req.period.label)
    return f"botmon-{req.botnet}-{req.period.kind}-{label}.zip"


def build_zip(store: Store, req: ReportRequest) -> Path:
    """The report of ``req`` as a zip in a temporary file; the caller removes it."""
    from botmon.reports.build import write_report  # matplotlib: only when a report is made

    work = Path(tempfile.mkdtemp(prefix="botmon-report-"))
    try:
        write_report(store, req, work)
        fd, name = tempfile.mkstemp(prefix="botmon-report-", suffix=".zip")
        target = Path(name)
        try:
            with open(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
                for path in sorted(work.iterdir()):
                    z.write(path, path.name)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def unpack(archive: Path, directory: Path) -> int:
    """Extract a report zip into the empty ``directory``; return the files written."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = z.infolist()
            if len(members) > MAX_MEMBERS:
                raise ArchiveError(f"the report holds more than {MAX_MEMBERS} files")
            for info in members:
                if info.is_dir() or not _MEMBER.fullmatch(info.filename):
                    raise ArchiveError(f"unexpected member {info.filename[:80]!r} in the report")
            for info in members:
                with z.open(info) as src, (directory / info.filename).open("xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            return len(members)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the answer is not a zip file: {exc}") from None
