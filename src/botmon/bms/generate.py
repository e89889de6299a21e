"""Regenerate the Python modules of ``bms_storage.proto`` (``python -m botmon.bms.generate``).

The generated modules are kept in the repository so that an install needs no protobuf
compiler; ``tests/bms/test_proto.py`` checks they match the ``.proto``. Needs grpcio-tools
(a development dependency).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO = Path(__file__).with_name("bms_storage.proto")
SRC = PROTO.parents[2]


def generate(out_dir: Path = SRC) -> int:
    """Run the protobuf compiler on the ``.proto``, writing into ``out_dir``; its exit code."""
    from grpc_tools import protoc  # development dependency: imported only here

    include = Path(protoc.__file__).with_name("_proto")
    return int(
        protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{SRC}",
                f"-I{include}",
                f"--python_out={out_dir}",
                f"--pyi_out={out_dir}",
                f"--grpc_python_out={out_dir}",
                str(PROTO.relative_to(SRC)),
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(generate())
