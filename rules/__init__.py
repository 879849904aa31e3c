"""The YAML rule language and the pure correlation core. Imports no runtime, reads no clock."""

from rules import native

native.select()  # before any core module loads: their compiled form only when built from today's source
