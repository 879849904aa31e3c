"""Hand-labelled person boxes in the shared clips (README.md) and their scoring (evaluate.py)."""
