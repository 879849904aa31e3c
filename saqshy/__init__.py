"""The `saqshy` command line: the one place that sees every package and wires them together."""
