"""The README shows what the installed command really prints."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_help_block_matches_the_command():
    """The `outofcore --help` block in the README is the command's current output."""
    text = README.read_text()
    block = re.search(r"```\n\$ outofcore --help\n(.*?)```", text, re.S)
    assert block, "README has no `$ outofcore --help` block"
    out = subprocess.run([sys.executable, "-m", "outofcore.cli", "--help"], capture_output=True,
                         text=True, check=True, env={"COLUMNS": "80", "PATH": ""}).stdout
    assert block.group(1) == out


def test_readme_starts_with_the_two_commands():
    """The first two code blocks set up and run the demo, then set up and run the tests."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert "outofcore demo" in blocks[0] and "pip install" in blocks[0]
    assert "pytest" in blocks[1] and "requirements-dev.txt" in blocks[1]
