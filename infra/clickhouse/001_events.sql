-- Events: everything Saqshy saw, one row per event id, typed columns per event type plus the payload.
-- Personal data (phone numbers, caller names, personal SOS devices) arrives already pseudonymised.
CREATE DATABASE IF NOT EXISTS ${db};

CREATE TABLE IF NOT EXISTS ${db}.events
(
    id String,
    type LowCardinality(String),
    source LowCardinality(String),
    time DateTime64(3, 'UTC'),
    received_time Nullable(DateTime64(3, 'UTC')),
    lat Nullable(Float64),
    lon Nullable(Float64),
    accuracy_m Nullable(Float32),
    cell_r7 UInt64 MATERIALIZED if(isNull(lat) OR isNull(lon), 0, geoToH3(assumeNotNull(lat), assumeNotNull(lon), 7))
        COMMENT 'H3 cell (resolution 7, ~5 km2) of the location, 0 when none: the place part of the sort key',
    republic LowCardinality(String),
    region LowCardinality(String),
    city LowCardinality(String),
    district LowCardinality(String),
    category LowCardinality(String) COMMENT 'call category, video analytic, accident severity, unit status, dispatch action',
    subject String COMMENT 'the thing that reported: camera, device (pseudonymised when personal), unit, record, call id',
    -- call.112
    call_line LowCardinality(String),
    call_phone String COMMENT 'pseudonym (h1:...) of the phone number, never the number',
    call_caller String COMMENT 'pseudonym (h1:...) of the caller name',
    call_address String,
    call_geocode LowCardinality(String),
    call_description String,
    call_operator LowCardinality(String),
    call_injured Nullable(UInt32),
    -- sos.press
    sos_kind LowCardinality(String),
    sos_message String,
    -- anpr.read
    anpr_plate String,
    anpr_country LowCardinality(String),
    anpr_confidence Float32,
    anpr_direction LowCardinality(String),
    anpr_speed_kmh Nullable(Float32),
    anpr_lane Nullable(UInt8),
    anpr_vehicle_class LowCardinality(String),
    -- accident.record
    accident_vehicles UInt16,
    accident_injured UInt16,
    accident_killed UInt16,
    accident_reporter LowCardinality(String),
    accident_road String,
    accident_factors Array(LowCardinality(String)),
    -- unit.gps
    unit_type LowCardinality(String),
    unit_speed_kmh Nullable(Float32),
    unit_heading_deg Nullable(Float32),
    unit_assigned_incident String,
    unit_callsign LowCardinality(String),
    -- video.detection
    video_label LowCardinality(String),
    video_confidence Float32,
    video_track_id Nullable(Int64),
    video_zone_id LowCardinality(String),
    video_line_id LowCardinality(String),
    video_direction LowCardinality(String),
    video_phase LowCardinality(String),
    video_count Nullable(UInt32),
    video_dwell_s Nullable(Float32),
    video_tamper LowCardinality(String),
    -- dispatch.action
    dispatch_operator LowCardinality(String),
    dispatch_unit_id String,
    dispatch_note String,
    -- ref.*
    deleted UInt8,
    payload String CODEC(ZSTD(3)) COMMENT 'the event data object as JSON, personal fields pseudonymised',
    schema_version LowCardinality(String),
    archived_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
-- time first (every query has a time range), then place, then type; the id makes the key unique so a
-- redelivered event collapses into one row on merge (SELECT ... FINAL sees one row at once).
ORDER BY (toStartOfHour(time), cell_r7, type, id)
SETTINGS non_replicated_deduplication_window = 1000;
