"""The layers point down only, and the command line starts without the heavy libraries."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("speech2face", "audit", "reports", "s2f")
"""Bottom up: a module may import its own layer and those before it."""


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in ``path``, at any depth of the tree."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def upward_imports(root: Path) -> list[str]:
    """``file:line imports layer`` for each import of a layer above the module's own."""
    problems = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((root / layer).rglob("*.py")):
            for line, package in sorted(imported_packages(path)):
                if package in LAYERS and LAYERS.index(package) > rank:
                    problems.append(f"{path.relative_to(root)}:{line} imports {package}")
    return problems


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(ROOT) == []


def test_the_check_finds_an_upward_import_inside_a_function(tmp_path):
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "audit" / "engine.py").write_text(
        "import numpy\n\ndef render():\n    from reports.audit import render_audit_report\n"
    )
    (tmp_path / "reports" / "audit.py").write_text("from audit import engine\n")
    assert upward_imports(tmp_path) == ["audit/engine.py:4 imports reports"]


@pytest.mark.parametrize("argv", [[], ["audit"], ["train"], ["faces"], ["dataset-report"]])
def test_building_the_parser_imports_neither_torch_nor_matplotlib(argv):
    """What ``s2f [COMMAND] --help`` loads: the parser only, the layers below on use."""
    code = (
        "import sys; from s2f.cli import build_parser; parser = build_parser()\n"
        f"try:\n    parser.parse_args({[*argv, '--help']!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'pandas'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
