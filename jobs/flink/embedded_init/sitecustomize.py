"""Run by the embedded interpreter of a Flink JVM as it starts (thread mode: jobs.flink.job.environment puts this
folder first on a local JVM's PYTHONPATH, infra/flink/flink.sh on its cluster's, the Dockerfile on the image's): it
loads the extension modules the operators need once, on one thread, before any operator starts. The pybind11
extension behind `re2`, first imported by several operator threads at once as they unpickled their functions,
hung the job inside the extension's initialisation (seen in tests/flink); a standalone cluster without this file
on its path hung the same way (two task threads of one TaskManager, one opening its interpreter: seen in
`make bench BENCH=flink`). The compiled core (rules/native.py), C extensions too, is loaded here for the same
reason, where it is built."""

import contextlib
import importlib

with contextlib.suppress(ImportError):  # without it rules.expr.regex falls back to `re` and says so at lint
    importlib.import_module("re2")

with contextlib.suppress(ImportError):  # the project is not on this interpreter's path: nothing to load
    native = importlib.import_module("rules.native")  # `rules` chooses compiled or source as it loads
    for name in native.MODULES:
        importlib.import_module(name)
