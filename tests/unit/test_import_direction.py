"""Dependencies point one way: foundations < datamodules < machinery < the core < the run layer and the chapter.

Every import of the project's own packages is read from the source (the lazy ones inside functions too, and
``TYPE_CHECKING`` blocks), and each must point down: the core (``lightning_modules/*.py``) imports nothing of
the run layer (``lightning_modules/runner``) or the chapter (``lightning_modules/chapter``); the machinery
(``lightning_modules/machinery``) imports nothing of the core above it; ``datamodules`` nothing of
``lightning_modules``; ``foundations`` nothing of the project. Scripts may import everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: each layer, and the layers its files may import (its own included)
LAYERS = {
    "foundations": {"foundations"},
    "datamodules": {"foundations", "datamodules"},
    "machinery": {"foundations", "datamodules", "machinery"},
    "core": {"foundations", "datamodules", "machinery", "core"},
    "runner": {"foundations", "datamodules", "machinery", "core", "runner"},
    "chapter": {"foundations", "datamodules", "machinery", "core", "chapter"},
}


def layer_of_module(name: str) -> str | None:
    """The layer of a dotted module name of this project, or None for anything else (torch, pandas, scripts...)."""
    parts = name.split(".")
    if parts[0] in ("foundations", "datamodules"):
        return parts[0]
    if parts[0] != "lightning_modules":
        return None
    if len(parts) > 1 and parts[1] in ("machinery", "runner", "chapter"):
        return parts[1]
    return "core"


def layer_of_file(name: str) -> str:
    """The layer of a library file named by its path in the repository (``lightning_modules/module.py``)."""
    return layer_of_module(".".join(Path(name).with_suffix("").parts))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``; ``from package import name`` counts as ``package.name`` when
    that is a module of the project (``from lightning_modules.machinery import checks``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*submodule.split("."))).with_suffix(".py").is_file() or (
                    ROOT / Path(*submodule.split("."))
                ).is_dir()
                found.append((node.lineno, submodule if is_module else node.module))
    return found


def backward_imports(files: dict[str, Path]) -> list[str]:
    """One line per import that points back up, naming the file (by its name in the repository), the line and
    what it imports."""
    wrong = []
    for name, path in files.items():
        layer = layer_of_file(name)
        for line, module in imported_modules(path):
            target = layer_of_module(module)
            if target is not None and target not in LAYERS[layer]:
                wrong.append(f"{name}:{line} ({layer}) imports {module} ({target}), which may not be imported there")
    return wrong


def library_files() -> dict[str, Path]:
    return {
        path.relative_to(ROOT).as_posix(): path
        for package in ("foundations", "datamodules", "lightning_modules")
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_every_import_of_the_library_points_down():
    files = library_files()
    assert len(files) > 40 and {layer_of_file(name) for name in files} == set(LAYERS)
    wrong = backward_imports(files)
    assert not wrong, "imports that point back up a layer:\n" + "\n".join(wrong)


def test_an_import_that_points_back_is_named(tmp_path):
    """The check itself: the core's module importing the run layer lazily, inside a function, and the machinery
    importing the core at the top, are each reported with the file and the line."""
    core = tmp_path / "module.py"
    core.write_text((ROOT / "lightning_modules" / "module.py").read_text()
                    + "\n\ndef _late():\n    from lightning_modules.runner.runs import run_folders\n")
    machinery = tmp_path / "checks.py"
    machinery.write_text("from lightning_modules import trainer\n" + (ROOT / "lightning_modules/machinery/checks.py").read_text())
    wrong = backward_imports({"lightning_modules/module.py": core, "lightning_modules/machinery/checks.py": machinery})
    assert wrong == [
        f"lightning_modules/module.py:{len(core.read_text().splitlines())} (core) imports lightning_modules.runner.runs "
        "(runner), which may not be imported there",
        "lightning_modules/machinery/checks.py:1 (machinery) imports lightning_modules.trainer (core), which may not "
        "be imported there",
    ]


def command_line_calls(source: str) -> list[str]:
    """The calls in ``source`` that belong to a command, not a library: ``ArgumentParser(...)`` and ``sys.exit(...)``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name.endswith("ArgumentParser") or name in ("sys.exit", "exit", "quit"):
                found.append(f"{name}() at line {node.lineno}")
    return found


def test_what_a_notebook_imports_parses_no_arguments_and_exits_no_process():
    """Argument parsing and exits live in the run layer (``islp-lab``, ``islp-curves``) and the scripts only."""
    library = {name: path for name, path in library_files().items() if layer_of_file(name) != "runner"}
    found = {name: calls for name, path in library.items() if (calls := command_line_calls(path.read_text()))}
    assert not found, f"a command's calls in the library a notebook imports: {found}"
    assert command_line_calls("import sys\nsys.exit(main())\n") == ["sys.exit() at line 2"]  # the check sees them
    assert command_line_calls((ROOT / "lightning_modules/runner/curves_cli.py").read_text())
