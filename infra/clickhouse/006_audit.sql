-- The operator console's audit log (streams/console/audit.py): every login (ok or failed), operator action and
-- view of restricted fields (clear phone numbers), appended and never updated or deleted by the console.
-- `saqshy audit` reads it by user, incident and time range.
CREATE TABLE IF NOT EXISTS ${db}.audit
(
    time DateTime64(3, 'UTC'),
    user String,
    role LowCardinality(String) COMMENT 'operator, supervisor, analyst, admin; empty for an unknown user',
    action LowCardinality(String) COMMENT 'login, logout, ack, assign, arrive, close, view_phone',
    incident_id String COMMENT 'empty when the entry is about no incident',
    outcome LowCardinality(String) COMMENT 'ok, failed, refused, rate_limited, invalid, conflict',
    detail String COMMENT 'event id of an action, reason, unit',
    client String COMMENT 'client address'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, user);
