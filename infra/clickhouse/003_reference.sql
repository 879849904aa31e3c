-- Reference tables as they changed over time: one row per reference event, newest per key wins.
-- Geometries are GeoJSON text (lon, lat); `deleted` rows are tombstones kept for history.
CREATE TABLE IF NOT EXISTS ${db}.ref_hotlist
(
    plate String, list_id LowCardinality(String), country LowCardinality(String), reason LowCardinality(String),
    priority UInt8, valid_from DateTime64(3, 'UTC'), valid_to Nullable(DateTime64(3, 'UTC')), note String,
    deleted UInt8, changed DateTime64(3, 'UTC'), event_id String
)
ENGINE = ReplacingMergeTree(changed)
ORDER BY (plate, list_id);

CREATE TABLE IF NOT EXISTS ${db}.ref_cameras
(
    camera_id String, lat Float64, lon Float64, owner LowCardinality(String), kind LowCardinality(String),
    status LowCardinality(String), name String, fov String, deleted UInt8, changed DateTime64(3, 'UTC'), event_id String
)
ENGINE = ReplacingMergeTree(changed)
ORDER BY camera_id;

CREATE TABLE IF NOT EXISTS ${db}.ref_zones
(
    zone_id String, name String, kind LowCardinality(String), geometry String, tags Array(String),
    deleted UInt8, changed DateTime64(3, 'UTC'), event_id String
)
ENGINE = ReplacingMergeTree(changed)
ORDER BY zone_id;

CREATE TABLE IF NOT EXISTS ${db}.ref_admin_areas
(
    area_id String, name String, level LowCardinality(String), parent_id String, geometry String,
    deleted UInt8, changed DateTime64(3, 'UTC'), event_id String
)
ENGINE = ReplacingMergeTree(changed)
ORDER BY area_id;
