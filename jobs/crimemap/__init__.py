"""The crime map: H3 hexagon counts from the archive's aggregates, as a self-contained HTML page and a PNG."""
