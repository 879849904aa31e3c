-- Incidents: every version the engine emitted (full state per version), history kept: the replacing key is
-- (id, version), so only a redelivered copy of a version collapses; incidents_latest shows the newest.
-- Public columns carry no personal data: the key/group (often a phone or a plate) are pseudonymised and phone
-- numbers in texts are replaced by their pseudonyms. The clear values live only in the restricted_* columns,
-- which the BI roles are not granted (see server/001_access.sql).
CREATE TABLE IF NOT EXISTS ${db}.incidents
(
    id String,
    version UInt32,
    rule_id LowCardinality(String),
    rule_version UInt32,
    category LowCardinality(String),
    status LowCardinality(String),
    priority UInt8,
    priority_base UInt8,
    priority_terms Array(Tuple(name String, delta Int16)),
    title String,
    summary String,
    key_pseudonym String,
    group_pseudonym String,
    lat Nullable(Float64),
    lon Nullable(Float64),
    republic LowCardinality(String),
    region LowCardinality(String),
    city LowCardinality(String),
    district LowCardinality(String),
    first_time DateTime64(3, 'UTC'),
    last_time DateTime64(3, 'UTC'),
    updated_time DateTime64(3, 'UTC'),
    event_count UInt32,
    labels Map(String, String),
    playbook String COMMENT 'response steps as JSON',
    close_reason String,
    schema_version LowCardinality(String),
    restricted_key String COMMENT 'RESTRICTED: the incident key in clear (may be a phone number)',
    restricted_group String COMMENT 'RESTRICTED: the group key in clear',
    restricted_payload String CODEC(ZSTD(3)) COMMENT 'RESTRICTED: the incident exactly as emitted (JSON)',
    archived_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Not partitioned: ReplacingMergeTree replaces only within a partition, and the times of an incident can
-- move between its versions.
ENGINE = ReplacingMergeTree
ORDER BY (id, version);

-- The current state of every incident (invoker's rights: row policies on incidents apply through it).
CREATE VIEW IF NOT EXISTS ${db}.incidents_latest AS
SELECT * EXCEPT (archived_at) FROM ${db}.incidents FINAL ORDER BY id, version DESC LIMIT 1 BY id;

-- Which events an incident was built from (an event can support many incidents).
CREATE TABLE IF NOT EXISTS ${db}.incident_events
(
    incident_id String,
    event_id String,
    rule_id LowCardinality(String),
    first_version UInt32,
    incident_time DateTime64(3, 'UTC'),
    republic LowCardinality(String),
    region LowCardinality(String),
    city LowCardinality(String),
    district LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (incident_id, event_id);
