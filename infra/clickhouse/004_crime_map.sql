-- Crime map aggregates: counts of distinct incidents and of located calls/accidents/SOS presses per H3 cell
-- (resolutions 6, 7, 8 and 9: ~36, ~5, ~0.7 and ~0.1 km2), per hour and per day, per category and area.
-- Counts are states of uniqExact over ids, so a redelivered event or a new version of an incident is
-- never counted twice (at-least-once archiving stays exact on the map).
CREATE TABLE IF NOT EXISTS ${db}.map_hourly
(
    layer LowCardinality(String) COMMENT 'incident, call.112, accident.record or sos.press',
    resolution UInt8,
    hour DateTime('UTC'),
    category LowCardinality(String),
    cell UInt64,
    region LowCardinality(String),
    city LowCardinality(String),
    district LowCardinality(String),
    ids AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (layer, resolution, hour, category, cell, region, city, district);

CREATE TABLE IF NOT EXISTS ${db}.map_daily
(
    layer LowCardinality(String),
    resolution UInt8,
    day Date,
    category LowCardinality(String),
    cell UInt64,
    region LowCardinality(String),
    city LowCardinality(String),
    district LowCardinality(String),
    ids AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (layer, resolution, day, category, cell, region, city, district);

-- An incident is placed where and when it was first detected.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.map_hourly_incidents_mv TO ${db}.map_hourly AS
SELECT 'incident' AS layer, resolution, toStartOfHour(first_time) AS hour, category,
       geoToH3(assumeNotNull(lat), assumeNotNull(lon), resolution) AS cell, region, city, district,
       uniqExactState(id) AS ids
FROM ${db}.incidents ARRAY JOIN [6, 7, 8, 9] AS resolution
WHERE lat IS NOT NULL AND lon IS NOT NULL
GROUP BY layer, resolution, hour, category, cell, region, city, district;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.map_daily_incidents_mv TO ${db}.map_daily AS
SELECT 'incident' AS layer, resolution, toDate(first_time) AS day, category,
       geoToH3(assumeNotNull(lat), assumeNotNull(lon), resolution) AS cell, region, city, district,
       uniqExactState(id) AS ids
FROM ${db}.incidents ARRAY JOIN [6, 7, 8, 9] AS resolution
WHERE lat IS NOT NULL AND lon IS NOT NULL
GROUP BY layer, resolution, day, category, cell, region, city, district;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.map_hourly_events_mv TO ${db}.map_hourly AS
SELECT type AS layer, resolution, toStartOfHour(time) AS hour, category,
       geoToH3(assumeNotNull(lat), assumeNotNull(lon), resolution) AS cell, region, city, district,
       uniqExactState(id) AS ids
FROM ${db}.events ARRAY JOIN [6, 7, 8, 9] AS resolution
WHERE type IN ('call.112', 'accident.record', 'sos.press') AND lat IS NOT NULL AND lon IS NOT NULL
GROUP BY layer, resolution, hour, category, cell, region, city, district;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.map_daily_events_mv TO ${db}.map_daily AS
SELECT type AS layer, resolution, toDate(time) AS day, category,
       geoToH3(assumeNotNull(lat), assumeNotNull(lon), resolution) AS cell, region, city, district,
       uniqExactState(id) AS ids
FROM ${db}.events ARRAY JOIN [6, 7, 8, 9] AS resolution
WHERE type IN ('call.112', 'accident.record', 'sos.press') AND lat IS NOT NULL AND lon IS NOT NULL
GROUP BY layer, resolution, day, category, cell, region, city, district;
