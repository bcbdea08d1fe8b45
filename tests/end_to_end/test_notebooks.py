"""Every lab and exercise opens as a notebook and runs top to bottom in a Jupyter kernel.

Each script is a percent-format notebook (``# %%`` cells). Here it is converted with jupytext and executed
headless with nbclient, as a reader's Jupyter would run it, with a cell after its parameters cell that
shortens the run (papermill's way of passing parameters): a few epochs, a slice of the data, synthetic
stand-ins where the data can't be downloaded, and the logs in a temporary folder.

The notebooks of one test process share a kernel, each starting on an empty namespace (``%reset -f``, as
"Restart" leaves it): a notebook that uses a name it never defined fails as in a fresh kernel. What carries
over is only what was imported, which saves each notebook the seconds of importing Lightning again.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from helpers import ROOT

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
jupyter_client = pytest.importorskip("jupyter_client")

SCRIPTS = sorted((ROOT / "scripts").glob("lab_*.py")) + sorted((ROOT / "scripts").glob("exercise_*.py"))

#: short settings, by parameter name; each notebook gets those its parameters cell has
SHORT = {
    "max_epochs": 1,
    "ar_epochs": 1,
    "seed": 0,
    "lasso_lambdas": 3,
    "synthetic": True,
    "limit": 300,
    "weights": "none",
}


#: labs that draw no figure: a table of classes per image, least squares' figures in a table
WITHOUT_FIGURE = {"lab_pretrained", "exercise_08_pretrained_top5", "exercise_09_nyse_month"}


def parameters_cell(notebook) -> int:
    """The index of the cell tagged ``parameters`` (papermill's convention)."""
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "a lab's notebook has one cell tagged parameters"
    return tagged[0]


def assigned_names(source: str) -> set[str]:
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_every_lab_and_exercise_is_a_notebook():
    names = {path.stem for path in SCRIPTS}
    assert len([name for name in names if name.startswith("lab_")]) == 7
    assert len([name for name in names if name.startswith("exercise_")]) == 8
    for path in SCRIPTS:
        notebook = jupytext.read(path)
        markdown = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
        assert markdown and markdown[0].source.startswith("# "), f"{path.name} opens with its section's title"
        names = assigned_names(notebook.cells[parameters_cell(notebook)].source)
        assert {"seed", "log_dir"} <= names, f"{path.name}'s parameters cell sets the seed and the log folder"


@pytest.fixture(scope="module")
def kernel():
    """A Jupyter kernel for this process's notebooks, started in the project's folder, as the first needs it."""
    manager = jupyter_client.KernelManager(kernel_name="python3")

    def live() -> jupyter_client.KernelManager:
        if not manager.has_kernel or not manager.is_alive():  # the first notebook, or one whose kernel died
            manager.start_kernel(cwd=str(ROOT))
        return manager

    yield live
    if manager.has_kernel:
        manager.shutdown_kernel(now=True)


def execute(notebook, manager) -> None:
    """Run ``notebook`` top to bottom in the shared kernel, on an empty namespace."""
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))  # nothing defined by an earlier notebook
    client = nbclient.NotebookClient(notebook, km=manager, timeout=600, resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()  # raises CellExecutionError, with the cell and its traceback, where one fails
    finally:
        if client.kc is not None:
            client.kc.stop_channels()


def test_a_notebook_sees_nothing_an_earlier_one_defined(kernel):
    execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import math\nleftover = math.pi")]), kernel())
    later = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(leftover)")])
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="NameError"):
        execute(later, kernel())


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.stem)
def test_each_notebook_runs_headless(path, tmp_path, kernel):
    notebook = jupytext.read(path)
    at = parameters_cell(notebook)
    names = assigned_names(notebook.cells[at].source)
    short = {name: value for name, value in SHORT.items() if name in names}
    short |= {"log_dir": str(tmp_path / "logs")} | ({"data_dir": str(tmp_path / "data")} if "data_dir" in names else {})
    injected = "\n".join(f"{name} = {value!r}" for name, value in short.items())
    notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))

    execute(notebook, kernel())

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    results = sorted((tmp_path / "logs").glob("*/results.json"))
    assert text.strip(), f"{path.name} printed nothing"
    assert results, f"{path.name} wrote no results.json under {tmp_path / 'logs'}"
    assert json.loads(results[0].read_text()), f"{path.name} wrote empty results"
    if path.stem not in WITHOUT_FIGURE:
        assert images, f"{path.name} showed no figure inline"
    assert not list(Path(tmp_path).glob("**/*.tmp")), "nothing half-written is left behind"
