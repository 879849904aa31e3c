"""Hotspot forecasts from the archive: naive, seasonal average, kernel density and self-exciting point process
models behind one interface, rolling-origin evaluation (hit rate, PAI) and a forecasts table."""
