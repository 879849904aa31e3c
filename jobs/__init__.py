"""Batch and distributed jobs (Flink, archive, backtest, forecasting)."""
