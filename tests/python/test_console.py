"""`jupyter console --kernel llmspell`: the real terminal client launches the kernel from the
installed kernelspec, runs what it reads, shows results, and shuts the kernel down at EOF."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_jupyter_console_runs_cells_and_shuts_the_kernel_down(kernelspec: Path, tmp_path: Path):
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), LLMSPELL_HOME=str(tmp_path / "home"))
    cells = 'print(6*7)\nx = {1, "two"}\nx\nerror("boom")\n#x\n'
    console = Path(sys.executable).parent / "jupyter-console"
    done = subprocess.run(
        [str(console), "--kernel", "llmspell", "--simple-prompt"],
        input=cells,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "llmspell" in out  # the banner from kernel_info
    assert "42" in out
    assert 'Out[3]: {1, "two"}' in out
    assert "boom" in out + done.stderr
    assert "Out[5]: 2" in out, "the kernel kept serving after the error"
    assert "Shutting down kernel" in out
    # The kernel Jupyter launched wrote no llmspell connection file of its own.
    assert not list((tmp_path / "home").glob("kernels/*.json"))
