"""The generic Jupyter kernel conformance suite (jupyter_kernel_test 0.7.0) run against llmspell.

Every sample attribute that ``jupyter_kernel_test.KernelTests`` 0.7.0 reads is set, so no test is
skipped for want of a sample. The module imports ``jupyter_kernel_test`` as a module (not its
classes by name) so that pytest does not also collect the base classes, which would launch the
``python3`` kernel.

``setUpClass`` gives the suite's kernel a private LLMSPELL_HOME: the history file is shared by
every kernel under one home, and the history ``search`` subtests count matches, so codes run by
other test modules must not be visible here.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import jupyter_kernel_test as jkt

KERNEL_NAME = "llmspell"


class _PrivateHome:
    """Mixin: launch the class's kernel with its own LLMSPELL_HOME, removed afterwards."""

    @classmethod
    def setUpClass(cls) -> None:
        cls._home = tempfile.mkdtemp(prefix="llmspell-jkt-home-")
        saved = os.environ.get("LLMSPELL_HOME")
        os.environ["LLMSPELL_HOME"] = cls._home
        try:
            super().setUpClass()  # type: ignore[misc]
        finally:
            if saved is None:
                os.environ.pop("LLMSPELL_HOME", None)
            else:
                os.environ["LLMSPELL_HOME"] = saved

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            super().tearDownClass()  # type: ignore[misc]
        finally:
            shutil.rmtree(cls._home, ignore_errors=True)


class LlmspellKernelTests(_PrivateHome, jkt.KernelTests):
    kernel_name = KERNEL_NAME

    # test_kernel_info
    language_name = "lua"
    file_extension = ".lua"

    # test_execute_stdout: a stdout stream containing "hello, world"
    code_hello_world = 'print("hello, world")'

    # test_execute_stderr: a stderr stream
    code_stderr = 'io.stderr:write("oops\\n")'

    # test_completion: matches compared as a set of replacements for [cursor_start, cursor_end)
    completion_samples = [
        {"text": "string.fo", "matches": {"format"}},
        {"text": "pri", "matches": {"print"}},
    ]

    # test_is_complete
    complete_code_samples = ['print("hi")', "1", "x = 1", "for i = 1, 3 do print(i) end"]
    incomplete_code_samples = ["for i = 1, 10 do", "function f(x)", "x = {"]
    invalid_code_samples = ["x = = 1", "1 +* 2"]

    # test_pager: execute_reply payload [{"source": "page", "data": {"text/plain": ...}}]
    code_page_something = 'page("text")'

    # test_error: exactly one iopub output, the error
    code_generate_error = 'error("boom")'

    # test_execute_result (and test_history, which runs these codes repeatedly)
    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": '"hi"', "result": '"hi"'},
        {"code": "0.5", "result": "0.5"},
    ]

    # test_display_data
    code_display_data = [
        {
            "code": 'display({["text/html"]="<b>hi</b>", ["text/plain"]="hi"})',
            "mime": "text/html",
        },
        {"code": "display(42)", "mime": "text/plain"},
    ]

    # test_history: the pattern (IPython-style glob) must match exactly one distinct code above,
    # since the "unique" subtest expects one entry; "n" expects three (the code runs many times).
    code_history_pattern = "6*7"
    supported_history_operations = ("tail", "range", "search")

    # test_inspect
    code_inspect_sample = "print"

    # test_clear_output
    code_clear_output = "clear_output()"


class LlmspellIopubWelcomeTests(_PrivateHome, jkt.IopubWelcomeTests):
    """The first iopub message a new subscriber sees must be ``iopub_welcome`` (XPUB iopub).

    The upstream test waits with no timeout; pytest-timeout (pytest.ini) turns a missing welcome
    into a failure.
    """

    kernel_name = KERNEL_NAME
    support_iopub_welcome = True
