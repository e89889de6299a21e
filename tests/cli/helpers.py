"""Run the ``botmon`` CLI in-process and check its one-line errors."""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from botmon.cli.main import cli


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        return self.out.strip().splitlines()[-1]


def botmon(*args: str, input: str | None = None) -> Ran:
    """``botmon ARGS`` in this process; returns exit code, stdout and stderr."""
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def assert_error(ran: Ran, *fragments: str) -> None:
    """A clean failure: non-zero exit, one ``botmon: error:`` line naming the problem."""
    assert ran.code != 0, ran
    errors = [line for line in ran.err.splitlines() if line.startswith("botmon: error: ")]
    assert len(errors) == 1, ran.err
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
