-- Hotspot forecasts (jobs/forecast): expected counts per H3 cell (level 'cell') and per admin area (level 'area')
-- for a period, by model and horizon. A run is one prediction; runs are never overwritten, so the latest run
-- for a model + horizon is the rows with the greatest created_at, and the sort key finds it without a scan.
CREATE TABLE IF NOT EXISTS ${db}.forecasts
(
    model LowCardinality(String) COMMENT 'naive, seasonal, kde or etas',
    horizon LowCardinality(String) COMMENT '24h, 7d or 30d',
    created_at DateTime64(3, 'UTC'),
    run_id String,
    layer LowCardinality(String) COMMENT 'incident, call.112, accident.record or sos.press',
    categories Array(LowCardinality(String)) COMMENT 'empty: every category',
    resolution UInt8,
    period_start DateTime('UTC'),
    period_end DateTime('UTC'),
    level LowCardinality(String) COMMENT 'cell or area',
    cell UInt64 COMMENT 'H3 cell at resolution; 0 on area rows',
    area String COMMENT 'admin area (district) of the cell, or the area of an area row; empty when unknown',
    expected Float64 COMMENT 'expected count in the period',
    rank UInt32 COMMENT '1 = hottest within the run and level (ties broken by a seeded shuffle)',
    area_fraction Float32 COMMENT 'share of the study area flagged down to this rank (cell rows)'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (model, horizon, created_at, level, rank);

-- Fitted model states: what `saqshy forecast predict` loads (latest by fitted_at for a model and selection).
CREATE TABLE IF NOT EXISTS ${db}.forecast_models
(
    model LowCardinality(String),
    selection String COMMENT 'layer, categories, resolution and study area as a key',
    fitted_at DateTime64(3, 'UTC'),
    data_until DateTime64(3, 'UTC') COMMENT 'the fit saw events before this time only',
    events UInt32,
    fit_s Float32,
    state String CODEC(ZSTD(3)) COMMENT 'the fitted parameters as JSON'
)
ENGINE = MergeTree
ORDER BY (model, selection, fitted_at);
