"""Run by the embedded interpreter of a local Flink JVM as it starts (thread mode: jobs.flink.job.environment
puts this folder first on the JVM's PYTHONPATH): it loads google-re2 there once, on one thread, before any
operator starts. The pybind11 extension behind `re2`, first imported by several operator threads at once as
they unpickled their functions, hung the job inside the extension's initialisation (seen in tests/flink)."""

import contextlib
import importlib

with contextlib.suppress(ImportError):  # without it rules.expr.regex falls back to `re` and says so at lint
    importlib.import_module("re2")
