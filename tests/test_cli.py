import subprocess
import sys


def test_s2f_help_lists_the_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "s2f", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: s2f" in result.stdout
