"""The YAML rule language and the pure correlation core. Imports no runtime, reads no clock."""
