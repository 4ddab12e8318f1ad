"""Shared set-up for the llmspell-kerneld protocol tests.

At import time (before any test module imports jupyter_client / jupyter_kernel_test and before
any kernel is launched) this points every Jupyter and llmspell directory at a private temp tree,
so the tests never read or write the real home:

    JUPYTER_PATH         <tmp>/prefix/share/jupyter   (where the llmspell kernelspec is installed)
    JUPYTER_DATA_DIR     <tmp>/jupyter-data
    JUPYTER_RUNTIME_DIR  <tmp>/jupyter-runtime        (connection files of KernelManager kernels)
    JUPYTER_CONFIG_DIR   <tmp>/jupyter-config
    LLMSPELL_HOME        <tmp>/llmspell-home          (history, standalone connection files)

The kernel binary is ``$LLMSPELL_KERNELD`` or ``<repo>/target/debug/llmspell-kerneld``. A
session-wide autouse fixture installs its kernelspec with ``install-kernelspec --prefix``.
Set ``LLMSPELL_KEEP_TMP=1`` to keep the temp tree for a post-mortem.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KERNELD = Path(os.environ.get("LLMSPELL_KERNELD") or REPO / "target" / "debug" / "llmspell-kerneld")
KERNEL_NAME = "llmspell"

TMP_ROOT = Path(tempfile.mkdtemp(prefix="llmspell-pytest-"))
PREFIX = TMP_ROOT / "prefix"
ENV_DIRS = {
    "JUPYTER_PATH": PREFIX / "share" / "jupyter",
    "JUPYTER_DATA_DIR": TMP_ROOT / "jupyter-data",
    "JUPYTER_RUNTIME_DIR": TMP_ROOT / "jupyter-runtime",
    "JUPYTER_CONFIG_DIR": TMP_ROOT / "jupyter-config",
    "LLMSPELL_HOME": TMP_ROOT / "llmspell-home",
}
for _name, _path in ENV_DIRS.items():
    _path.mkdir(parents=True, exist_ok=True)
    os.environ[_name] = str(_path)
os.environ["LLMSPELL_KERNELD"] = str(KERNELD)
# Silence jupyter_core's platformdirs migration warning and ignore any env-specific paths.
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
os.environ.pop("JUPYTER_PREFER_ENV_PATH", None)


def _cleanup() -> None:
    if not os.environ.get("LLMSPELL_KEEP_TMP"):
        shutil.rmtree(TMP_ROOT, ignore_errors=True)


atexit.register(_cleanup)


@pytest.fixture(scope="session", autouse=True)
def kernelspec() -> Path:
    """Installs the llmspell kernelspec into the temp prefix; returns its kernel.json path."""
    if not os.access(KERNELD, os.X_OK):
        pytest.fail(f"kernel binary {KERNELD} is missing: build it or set LLMSPELL_KERNELD")
    proc = subprocess.run(
        [str(KERNELD), "install-kernelspec", "--prefix", str(PREFIX)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"install-kernelspec failed ({proc.returncode}): {proc.stderr}"
    spec = ENV_DIRS["JUPYTER_PATH"] / "kernels" / KERNEL_NAME / "kernel.json"
    assert spec.is_file(), f"install-kernelspec did not write {spec}"
    return spec


@pytest.fixture()
def kernel():
    """A fresh kernel started like Jupyter does: yields ``(KernelManager, BlockingKernelClient)``."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=60)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=False)


@pytest.fixture()
def llmspell_home(tmp_path: Path) -> Path:
    """A private, empty LLMSPELL_HOME for tests that run the binary themselves."""
    home = tmp_path / "llmspell-home"
    home.mkdir()
    return home
