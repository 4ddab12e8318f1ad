"""`llmspell-kerneld install-kernelspec`: what it writes and that Jupyter finds it.

Only ``--prefix`` installs are exercised (into temp dirs), never ``--user`` / ``--sys-prefix``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

KERNELD = os.environ["LLMSPELL_KERNELD"]  # set by conftest


def test_installed_kernelspec_contents(kernelspec: Path):
    spec = json.loads(kernelspec.read_text())
    assert spec["argv"] == [
        str(Path(KERNELD).resolve()),
        "start",
        "--connection-file",
        "{connection_file}",
    ]
    assert Path(spec["argv"][0]).is_absolute()
    assert spec["language"] == "lua"
    assert spec["interrupt_mode"] == "message"
    # JupyterLab shows its debugger only for metadata.debugger (kernel_info's
    # supported_features agrees; see test_debugger.py).
    assert spec["metadata"]["debugger"] is True
    assert spec["display_name"]
    logos = {p.name for p in kernelspec.parent.iterdir()}
    assert {"logo-32x32.png", "logo-64x64.png"} <= logos, logos


def test_jupyter_finds_the_kernelspec(kernelspec: Path):
    specs = KernelSpecManager().find_kernel_specs()
    assert Path(specs["llmspell"]) == kernelspec.parent
    ks = KernelSpecManager().get_kernel_spec("llmspell")
    assert ks.language == "lua"
    assert ks.interrupt_mode == "message"


def test_install_with_custom_name(tmp_path: Path):
    proc = subprocess.run(
        [KERNELD, "install-kernelspec", "--prefix", str(tmp_path), "--name", "lua-test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    spec = tmp_path / "share" / "jupyter" / "kernels" / "lua-test" / "kernel.json"
    assert json.loads(spec.read_text())["language"] == "lua"
    # Installing again over an existing spec works (Jupyter's own installers replace it).
    proc = subprocess.run(
        [KERNELD, "install-kernelspec", "--prefix", str(tmp_path), "--name", "lua-test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
