"""Helpers for the command-line tests: run `main(argv)` in-process and read what it printed."""
import pytest

from shendu.cli import main


@pytest.fixture
def shendu_cli(capsys):
    """``run(*argv) -> (status, stdout, stderr)`` of ``shendu ARGV`` in this process."""
    def run(*argv):
        capsys.readouterr()
        status = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return status, out, err
    return run


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def usage_error():
    """``usage_error(stderr) -> its one line``, asserting there is exactly one and no traceback."""
    return _one_line
