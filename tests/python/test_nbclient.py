"""Executes tests/notebooks/demo.ipynb with nbclient on the llmspell kernel and checks its outputs.

nbclient is what `jupyter nbconvert --execute` and papermill use, so this is the "does a notebook
run headless" check: it needs language_info, busy/idle on every request and proper error replies.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "demo.ipynb"


def _by_source(nb, source: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source == source]
    return cell


def _stdout(cell) -> str:
    return "".join(
        o["text"] for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"
    )


def test_demo_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="llmspell",
        timeout=60,
        startup_timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    assert nb.metadata["language_info"]["name"] == "lua"

    assert _stdout(_by_source(nb, 'print("hello from lua")')) == "hello from lua\n"

    assert _by_source(nb, "t = {10, 20, 30}\nnames = {lua = 5.4}").outputs == []

    (table_result,) = _by_source(nb, "t").outputs
    assert table_result.output_type == "execute_result"
    assert table_result.data["text/plain"]

    (count,) = _by_source(nb, "#t * 2").outputs
    assert count.output_type == "execute_result"
    assert count.data["text/plain"] == "6"

    src = 'display({["text/html"] = "<b>bold</b>", ["text/plain"] = "bold"})'
    (disp,) = _by_source(nb, src).outputs
    assert disp.output_type == "display_data"
    assert disp.data["text/html"] == "<b>bold</b>"
    assert disp.data["text/plain"] == "bold"

    encoded = _stdout(_by_source(nb, 'print(JSON.encode({name = "lua", list = {1, 2, 3}}))'))
    assert json.loads(encoded) == {"name": "lua", "list": [1, 2, 3]}

    (err,) = _by_source(nb, 'error("expected failure")').outputs
    assert err.output_type == "error"
    assert err.ename == "RuntimeError"
    assert "expected failure" in err.evalue

    assert _stdout(_by_source(nb, 'print("still running")')) == "still running\n"

    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == sorted(counts) and len(set(counts)) == len(counts), counts
    assert all(isinstance(n, int) and n > 0 for n in counts), counts
