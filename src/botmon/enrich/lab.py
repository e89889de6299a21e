"""Writes the lab GeoIP database (``data/lab.mmdb``) from :mod:`botmon.enrich.labplan`.

``python -m botmon.enrich.lab [--output PATH]`` uses mmdb-writer, a development dependency;
the committed file is what botmon reads at run time. The output is reproducible byte for byte
(fixed build time), which a test checks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from botmon.enrich.defaults import LAB_DB
from botmon.enrich.labplan import LAB_PLAN, lab_record

LAB_BUILD_EPOCH = 1_767_225_600
"""2026-01-01T00:00:00Z, fixed so the committed file is reproducible."""


def build_lab_db(output: Path) -> Path:
    """Write the lab database to ``output`` (needs the dev dependency mmdb-writer)."""
    try:
        from mmdb_writer import MmdbU32, MMDBWriter
        from netaddr import IPSet
    except ImportError as exc:  # pragma: no cover - dev dependency present in tests
        raise SystemExit(f"botmon: building the lab database needs mmdb-writer: {exc}") from None

    class _Writer(MMDBWriter):  # type: ignore[misc]
        def _build_meta(self) -> dict[str, Any]:
            meta: dict[str, Any] = super()._build_meta()
            meta["build_epoch"] = LAB_BUILD_EPOCH
            return meta

    writer = _Writer(
        ip_version=4,
        database_type="botmon-lab",
        languages=["en"],
        description="botmon lab database: made-up countries and ASes for 127.A.0.0/16",
    )
    for net in LAB_PLAN:
        record = lab_record(net)
        record["autonomous_system_number"] = MmdbU32(net.asn)
        writer.insert_network(IPSet([net.cidr]), record)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    writer.to_db_file(str(tmp))
    tmp.replace(output)
    return output


def main(argv: list[str] | None = None) -> int:
    """``python -m botmon.enrich.lab``: (re)write the lab database."""
    parser = argparse.ArgumentParser(prog="python -m botmon.enrich.lab", description=__doc__)
    parser.add_argument("--output", type=Path, default=LAB_DB)
    args = parser.parse_args(argv)
    path = build_lab_db(args.output)
    print(f"botmon: lab database with {len(LAB_PLAN)} networks written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
