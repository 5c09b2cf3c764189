"""Command-line flags: bad values give argparse's usage error, never a traceback."""
from __future__ import annotations

import pytest

from synthesis.cli.app import main


@pytest.mark.parametrize("argv,message", [
    (["run", "--jobs", "0"], "0 is too small; give at least 1"),
    (["run", "--jobs", "two"], "'two' is not a whole number"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["run", "--timeout", "0"], "is not a usable timeout"),
    (["run", "--timeout", "soon"], "'soon' is not a number of seconds"),
])
def test_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_override_is_one_line(capsys, tmp_path):
    code = main(["run", "practice-facilitation", "--set", "analysis.methd=PM"])
    out = capsys.readouterr()
    assert code == 1
    assert "did you mean 'method'?" in out.out + out.err and "Traceback" not in out.out + out.err
