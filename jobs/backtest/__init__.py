"""Backtesting: replay archived events through the core with candidate rules, compare with what was deployed."""
