-- Archive for BI (issue 20): first acknowledgement and first arrival times as columns, a flag for chained
-- (meta-) and internal incidents, a COMMENT on every column of every table, incidents_latest rebuilt with the
-- new columns and its own comments, and local-time views parameterised by the city's timezone:
--   SELECT * FROM saqshy.incidents_local(tz = 'Asia/Almaty')   (the timezone is the city's, city.yaml)
-- Rows archived before this migration have NULL/0 in the new columns (ALTER ... ADD COLUMN defaults).

ALTER TABLE ${db}.incidents
    ADD COLUMN IF NOT EXISTS acknowledged_at Nullable(DateTime64(3, 'UTC')) COMMENT 'first dispatcher acknowledgement (dispatch.action ack) of the incident, event time UTC; NULL until acknowledged' AFTER close_reason,
    ADD COLUMN IF NOT EXISTS first_on_scene_at Nullable(DateTime64(3, 'UTC')) COMMENT 'first unit on scene (unit.gps on_scene with this assigned_incident), event time UTC; NULL until a unit arrives' AFTER acknowledged_at,
    ADD COLUMN IF NOT EXISTS time_to_arrive_s Nullable(Float64) COMMENT 'seconds from first_time to first_on_scene_at; NULL until a unit arrives' AFTER first_on_scene_at,
    ADD COLUMN IF NOT EXISTS units_on_scene UInt16 COMMENT 'distinct units that reported on scene so far' AFTER time_to_arrive_s,
    ADD COLUMN IF NOT EXISTS chained UInt8 COMMENT '1 for a meta-incident: made by a rule over incidents (its evidence are other incidents), else 0' AFTER units_on_scene,
    ADD COLUMN IF NOT EXISTS internal UInt8 COMMENT '1 for an incident of a helper rule (emit: false) that only feeds chained rules, never dispatched; else 0' AFTER chained;

ALTER TABLE ${db}.events
    COMMENT COLUMN IF EXISTS id 'event id, stable across redeliveries: the deduplication key',
    COMMENT COLUMN IF EXISTS type 'event type: call.112, sos.press, anpr.read, accident.record, unit.gps, video.detection, dispatch.action, ref.*',
    COMMENT COLUMN IF EXISTS source 'producer of the event (system, device family or file), as the CloudEvents source',
    COMMENT COLUMN IF EXISTS time 'event time, UTC (when it happened, not when it arrived)',
    COMMENT COLUMN IF EXISTS received_time 'when the platform received it, UTC; NULL when the producer did not say',
    COMMENT COLUMN IF EXISTS lat 'latitude, WGS84 degrees; NULL when the event has no location',
    COMMENT COLUMN IF EXISTS lon 'longitude, WGS84 degrees; NULL when the event has no location',
    COMMENT COLUMN IF EXISTS accuracy_m 'location accuracy radius in metres; NULL when unknown',
    COMMENT COLUMN IF EXISTS republic 'admin path level 1: republic (country), empty when unknown',
    COMMENT COLUMN IF EXISTS region 'admin path level 2: region (oblys), empty when unknown',
    COMMENT COLUMN IF EXISTS city 'admin path level 3: city, empty when unknown',
    COMMENT COLUMN IF EXISTS district 'admin path level 4: city district, empty when unknown',
    COMMENT COLUMN IF EXISTS call_line 'call.112: the line called (112, 101, 102, 103, 104)',
    COMMENT COLUMN IF EXISTS call_address 'call.112: address as told by the caller or the operator',
    COMMENT COLUMN IF EXISTS call_geocode 'call.112: how precisely the address was located: exact, street, district, cell_tower or none',
    COMMENT COLUMN IF EXISTS call_description 'call.112: operator\'s free-text description (phone numbers replaced by pseudonyms)',
    COMMENT COLUMN IF EXISTS call_operator 'call.112: id of the call-taker',
    COMMENT COLUMN IF EXISTS call_injured 'call.112: number of injured people reported; NULL when not asked',
    COMMENT COLUMN IF EXISTS sos_kind 'sos.press: fixed_button, mobile_app or wearable',
    COMMENT COLUMN IF EXISTS sos_message 'sos.press: text sent with the press, if any',
    COMMENT COLUMN IF EXISTS anpr_plate 'anpr.read: plate number as read',
    COMMENT COLUMN IF EXISTS anpr_country 'anpr.read: plate country code as read',
    COMMENT COLUMN IF EXISTS anpr_confidence 'anpr.read: OCR confidence 0..1',
    COMMENT COLUMN IF EXISTS anpr_direction 'anpr.read: approaching, departing or unknown',
    COMMENT COLUMN IF EXISTS anpr_speed_kmh 'anpr.read: measured speed in km/h; NULL when the camera does not measure it',
    COMMENT COLUMN IF EXISTS anpr_lane 'anpr.read: lane number; NULL when unknown',
    COMMENT COLUMN IF EXISTS anpr_vehicle_class 'anpr.read: vehicle class as the camera reports it, empty when none',
    COMMENT COLUMN IF EXISTS accident_vehicles 'accident.record: vehicles involved',
    COMMENT COLUMN IF EXISTS accident_injured 'accident.record: people injured',
    COMMENT COLUMN IF EXISTS accident_killed 'accident.record: people killed',
    COMMENT COLUMN IF EXISTS accident_reporter 'accident.record: who recorded it (police, 112, a road sensor)',
    COMMENT COLUMN IF EXISTS accident_road 'accident.record: road or street name',
    COMMENT COLUMN IF EXISTS accident_factors 'accident.record: contributing factors as recorded',
    COMMENT COLUMN IF EXISTS unit_type 'unit.gps: police, ambulance, fire, rescue or gas',
    COMMENT COLUMN IF EXISTS unit_speed_kmh 'unit.gps: speed in km/h; NULL when not reported',
    COMMENT COLUMN IF EXISTS unit_heading_deg 'unit.gps: heading in degrees from north, 0..360; NULL when not reported',
    COMMENT COLUMN IF EXISTS unit_assigned_incident 'unit.gps: incident id the unit is assigned to, empty when none',
    COMMENT COLUMN IF EXISTS unit_callsign 'unit.gps: radio call sign',
    COMMENT COLUMN IF EXISTS video_label 'video.detection: detector class label (the analytic is in category)',
    COMMENT COLUMN IF EXISTS video_confidence 'video.detection: detector confidence 0..1',
    COMMENT COLUMN IF EXISTS video_track_id 'video.detection: tracker id of the object within the camera; NULL for frame-level analytics',
    COMMENT COLUMN IF EXISTS video_zone_id 'video.detection: camera zone the object is in, empty when none',
    COMMENT COLUMN IF EXISTS video_line_id 'video.detection: counting line crossed, empty when none',
    COMMENT COLUMN IF EXISTS video_direction 'video.detection: in or out for a line crossing, empty otherwise',
    COMMENT COLUMN IF EXISTS video_phase 'video.detection: new, update or end of a tracked object',
    COMMENT COLUMN IF EXISTS video_count 'video.detection: objects counted (crowd estimate); NULL otherwise',
    COMMENT COLUMN IF EXISTS video_dwell_s 'video.detection: seconds the object stayed in the zone; NULL otherwise',
    COMMENT COLUMN IF EXISTS video_tamper 'video.detection: camera_tamper kind (no_signal, frozen, blackout, blur, scene_change), empty otherwise',
    COMMENT COLUMN IF EXISTS dispatch_operator 'dispatch.action: id of the dispatcher who acted',
    COMMENT COLUMN IF EXISTS dispatch_unit_id 'dispatch.action: unit assigned or arrived, empty when none',
    COMMENT COLUMN IF EXISTS dispatch_note 'dispatch.action: dispatcher\'s note',
    COMMENT COLUMN IF EXISTS deleted 'ref.*: 1 when the event deletes the reference record (tombstone), else 0',
    COMMENT COLUMN IF EXISTS schema_version 'contract version of the event (schemas.SCHEMA_VERSION when it was produced)',
    COMMENT COLUMN IF EXISTS archived_at 'when the archiver wrote the row, UTC';

ALTER TABLE ${db}.incidents
    COMMENT COLUMN IF EXISTS id 'incident id, stable across versions and runtimes',
    COMMENT COLUMN IF EXISTS version 'incident version: 1 for the first state, +1 per update; incidents_latest keeps the highest',
    COMMENT COLUMN IF EXISTS rule_id 'id of the correlation rule that made the incident',
    COMMENT COLUMN IF EXISTS rule_version 'version of that rule',
    COMMENT COLUMN IF EXISTS category 'incident category of the rule (fire, traffic, crime, medical, ...)',
    COMMENT COLUMN IF EXISTS status 'open, updated, escalated, closed or retracted',
    COMMENT COLUMN IF EXISTS priority 'priority 1..5, 1 = most urgent (life at risk, act now), 5 = least urgent (information)',
    COMMENT COLUMN IF EXISTS priority_base 'the rule\'s base priority on the same 1..5 scale',
    COMMENT COLUMN IF EXISTS priority_terms 'named terms of the priority expression that applied, with their deltas',
    COMMENT COLUMN IF EXISTS title 'one-line title for the dispatcher (phone numbers replaced by pseudonyms)',
    COMMENT COLUMN IF EXISTS summary 'longer text for the dispatcher (phone numbers replaced by pseudonyms)',
    COMMENT COLUMN IF EXISTS key_pseudonym 'pseudonym (h1:...) of the incident key, which may be a phone or a plate',
    COMMENT COLUMN IF EXISTS group_pseudonym 'pseudonym (h1:...) of the group-by value, empty when the rule has none',
    COMMENT COLUMN IF EXISTS lat 'latitude of the incident, WGS84; NULL when unknown',
    COMMENT COLUMN IF EXISTS lon 'longitude of the incident, WGS84; NULL when unknown',
    COMMENT COLUMN IF EXISTS republic 'admin path level 1: republic (country), empty when unknown',
    COMMENT COLUMN IF EXISTS region 'admin path level 2: region (oblys), empty when unknown',
    COMMENT COLUMN IF EXISTS city 'admin path level 3: city, empty when unknown',
    COMMENT COLUMN IF EXISTS district 'admin path level 4: city district, empty when unknown',
    COMMENT COLUMN IF EXISTS first_time 'event time of the earliest evidence, UTC (when the incident started)',
    COMMENT COLUMN IF EXISTS last_time 'event time of the latest evidence, UTC',
    COMMENT COLUMN IF EXISTS updated_time 'event time at which this version was made, UTC',
    COMMENT COLUMN IF EXISTS event_count 'number of events merged into the incident',
    COMMENT COLUMN IF EXISTS labels 'labels set by the rule (personal values pseudonymised)',
    COMMENT COLUMN IF EXISTS close_reason 'why it closed (quiet, dispatcher close, ...); empty while open',
    COMMENT COLUMN IF EXISTS schema_version 'contract version of the incident',
    COMMENT COLUMN IF EXISTS archived_at 'when the archiver wrote the row, UTC';

ALTER TABLE ${db}.incident_events
    COMMENT COLUMN IF EXISTS incident_id 'incident id (incidents.id)',
    COMMENT COLUMN IF EXISTS event_id 'id of one event the incident was built from (events.id)',
    COMMENT COLUMN IF EXISTS rule_id 'rule of the incident',
    COMMENT COLUMN IF EXISTS first_version 'first incident version that had this event as evidence',
    COMMENT COLUMN IF EXISTS incident_time 'first_time of the incident, UTC',
    COMMENT COLUMN IF EXISTS republic 'admin path level 1: republic (country), empty when unknown',
    COMMENT COLUMN IF EXISTS region 'admin path level 2: region (oblys), empty when unknown',
    COMMENT COLUMN IF EXISTS city 'admin path level 3: city, empty when unknown',
    COMMENT COLUMN IF EXISTS district 'admin path level 4: city district, empty when unknown';

ALTER TABLE ${db}.map_hourly
    COMMENT COLUMN IF EXISTS resolution 'H3 resolution of cell: 6, 7, 8 or 9 (~36, ~5, ~0.7, ~0.1 km2)',
    COMMENT COLUMN IF EXISTS hour 'start of the UTC hour',
    COMMENT COLUMN IF EXISTS category 'incident category, call category, accident severity or SOS kind',
    COMMENT COLUMN IF EXISTS cell 'H3 cell id at resolution',
    COMMENT COLUMN IF EXISTS region 'admin path level 2: region (oblys), empty when unknown',
    COMMENT COLUMN IF EXISTS city 'admin path level 3: city, empty when unknown',
    COMMENT COLUMN IF EXISTS district 'admin path level 4: city district, empty when unknown',
    COMMENT COLUMN IF EXISTS ids 'uniqExact state of the counted ids: uniqExactMerge(ids) is the count';

ALTER TABLE ${db}.map_daily
    COMMENT COLUMN IF EXISTS layer 'incident, call.112, accident.record or sos.press',
    COMMENT COLUMN IF EXISTS resolution 'H3 resolution of cell: 6, 7, 8 or 9 (~36, ~5, ~0.7, ~0.1 km2)',
    COMMENT COLUMN IF EXISTS day 'UTC date',
    COMMENT COLUMN IF EXISTS category 'incident category, call category, accident severity or SOS kind',
    COMMENT COLUMN IF EXISTS cell 'H3 cell id at resolution',
    COMMENT COLUMN IF EXISTS region 'admin path level 2: region (oblys), empty when unknown',
    COMMENT COLUMN IF EXISTS city 'admin path level 3: city, empty when unknown',
    COMMENT COLUMN IF EXISTS district 'admin path level 4: city district, empty when unknown',
    COMMENT COLUMN IF EXISTS ids 'uniqExact state of the counted ids: uniqExactMerge(ids) is the count';

ALTER TABLE ${db}.ref_hotlist
    COMMENT COLUMN IF EXISTS plate 'plate number on the list',
    COMMENT COLUMN IF EXISTS list_id 'hotlist id (stolen, wanted, amber, ...)',
    COMMENT COLUMN IF EXISTS country 'plate country code',
    COMMENT COLUMN IF EXISTS reason 'why the plate is listed',
    COMMENT COLUMN IF EXISTS priority 'priority of a hit, 1 = most urgent',
    COMMENT COLUMN IF EXISTS valid_from 'listed from, UTC',
    COMMENT COLUMN IF EXISTS valid_to 'listed until, UTC; NULL: no end',
    COMMENT COLUMN IF EXISTS note 'free-text note',
    COMMENT COLUMN IF EXISTS deleted '1 when this change deleted the record (tombstone kept for history)',
    COMMENT COLUMN IF EXISTS changed 'event time of the change, UTC: the newest per key wins',
    COMMENT COLUMN IF EXISTS event_id 'id of the ref.* event (events.id)';

ALTER TABLE ${db}.ref_cameras
    COMMENT COLUMN IF EXISTS camera_id 'camera id',
    COMMENT COLUMN IF EXISTS lat 'latitude, WGS84',
    COMMENT COLUMN IF EXISTS lon 'longitude, WGS84',
    COMMENT COLUMN IF EXISTS owner 'who runs the camera (municipal, police, private, ...)',
    COMMENT COLUMN IF EXISTS kind 'overview, anpr, ptz, ...',
    COMMENT COLUMN IF EXISTS status 'online, offline or maintenance',
    COMMENT COLUMN IF EXISTS name 'human-readable name',
    COMMENT COLUMN IF EXISTS fov 'field of view as GeoJSON (lon, lat), empty when unknown',
    COMMENT COLUMN IF EXISTS deleted '1 when this change deleted the record (tombstone kept for history)',
    COMMENT COLUMN IF EXISTS changed 'event time of the change, UTC: the newest per key wins',
    COMMENT COLUMN IF EXISTS event_id 'id of the ref.* event (events.id)';

ALTER TABLE ${db}.ref_zones
    COMMENT COLUMN IF EXISTS zone_id 'zone id',
    COMMENT COLUMN IF EXISTS name 'zone name',
    COMMENT COLUMN IF EXISTS kind 'school, market, mass_gathering, transport_hub, ...',
    COMMENT COLUMN IF EXISTS geometry 'zone polygon as GeoJSON text (lon, lat)',
    COMMENT COLUMN IF EXISTS tags 'free tags',
    COMMENT COLUMN IF EXISTS deleted '1 when this change deleted the record (tombstone kept for history)',
    COMMENT COLUMN IF EXISTS changed 'event time of the change, UTC: the newest per key wins',
    COMMENT COLUMN IF EXISTS event_id 'id of the ref.* event (events.id)';

ALTER TABLE ${db}.ref_admin_areas
    COMMENT COLUMN IF EXISTS area_id 'admin area id',
    COMMENT COLUMN IF EXISTS name 'area name',
    COMMENT COLUMN IF EXISTS level 'republic, region, city or district',
    COMMENT COLUMN IF EXISTS parent_id 'id of the enclosing area, empty for the top',
    COMMENT COLUMN IF EXISTS geometry 'boundary as GeoJSON text (lon, lat)',
    COMMENT COLUMN IF EXISTS deleted '1 when this change deleted the record (tombstone kept for history)',
    COMMENT COLUMN IF EXISTS changed 'event time of the change, UTC: the newest per key wins',
    COMMENT COLUMN IF EXISTS event_id 'id of the ref.* event (events.id)';

ALTER TABLE ${db}.forecasts
    COMMENT COLUMN IF EXISTS created_at 'when the run was made, UTC',
    COMMENT COLUMN IF EXISTS run_id 'id of the forecast run',
    COMMENT COLUMN IF EXISTS resolution 'H3 resolution of cell',
    COMMENT COLUMN IF EXISTS period_start 'start of the forecast period, UTC',
    COMMENT COLUMN IF EXISTS period_end 'end of the forecast period (exclusive), UTC';

ALTER TABLE ${db}.forecast_models
    COMMENT COLUMN IF EXISTS model 'naive, seasonal, kde or etas',
    COMMENT COLUMN IF EXISTS fitted_at 'when the model was fitted, UTC',
    COMMENT COLUMN IF EXISTS events 'number of events the fit used',
    COMMENT COLUMN IF EXISTS fit_s 'seconds the fit took';

ALTER TABLE ${db}.audit
    COMMENT COLUMN IF EXISTS time 'when it happened, UTC',
    COMMENT COLUMN IF EXISTS user 'console user name (as typed for a failed login)';

ALTER TABLE ${db}.schema_migrations
    COMMENT COLUMN IF EXISTS name 'migration name (NNN_name, server/NNN_name)',
    COMMENT COLUMN IF EXISTS checksum 'sha256 prefix of the applied SQL',
    COMMENT COLUMN IF EXISTS applied_at 'when it was applied, UTC';

-- The current state of every incident (invoker's rights: row policies on incidents apply through it),
-- rebuilt so that it has the new columns (a view fixes its columns when it is created) and comments.
CREATE OR REPLACE VIEW ${db}.incidents_latest
(
    id String COMMENT 'incident id, stable across versions and runtimes',
    version UInt32 COMMENT 'incident version: 1 for the first state, +1 per update; incidents_latest keeps the highest',
    rule_id LowCardinality(String) COMMENT 'id of the correlation rule that made the incident',
    rule_version UInt32 COMMENT 'version of that rule',
    category LowCardinality(String) COMMENT 'incident category of the rule (fire, traffic, crime, medical, ...)',
    status LowCardinality(String) COMMENT 'open, updated, escalated, closed or retracted',
    priority UInt8 COMMENT 'priority 1..5, 1 = most urgent (life at risk, act now), 5 = least urgent (information)',
    priority_base UInt8 COMMENT 'the rule\'s base priority on the same 1..5 scale',
    priority_terms Array(Tuple(name String, delta Int16)) COMMENT 'named terms of the priority expression that applied, with their deltas',
    title String COMMENT 'one-line title for the dispatcher (phone numbers replaced by pseudonyms)',
    summary String COMMENT 'longer text for the dispatcher (phone numbers replaced by pseudonyms)',
    key_pseudonym String COMMENT 'pseudonym (h1:...) of the incident key, which may be a phone or a plate',
    group_pseudonym String COMMENT 'pseudonym (h1:...) of the group-by value, empty when the rule has none',
    lat Nullable(Float64) COMMENT 'latitude of the incident, WGS84; NULL when unknown',
    lon Nullable(Float64) COMMENT 'longitude of the incident, WGS84; NULL when unknown',
    republic LowCardinality(String) COMMENT 'admin path level 1: republic (country), empty when unknown',
    region LowCardinality(String) COMMENT 'admin path level 2: region (oblys), empty when unknown',
    city LowCardinality(String) COMMENT 'admin path level 3: city, empty when unknown',
    district LowCardinality(String) COMMENT 'admin path level 4: city district, empty when unknown',
    first_time DateTime64(3, 'UTC') COMMENT 'event time of the earliest evidence, UTC (when the incident started)',
    last_time DateTime64(3, 'UTC') COMMENT 'event time of the latest evidence, UTC',
    updated_time DateTime64(3, 'UTC') COMMENT 'event time at which this version was made, UTC',
    event_count UInt32 COMMENT 'number of events merged into the incident',
    labels Map(String, String) COMMENT 'labels set by the rule (personal values pseudonymised)',
    playbook String COMMENT 'response steps as JSON',
    close_reason String COMMENT 'why it closed (quiet, dispatcher close, ...); empty while open',
    acknowledged_at Nullable(DateTime64(3, 'UTC')) COMMENT 'first dispatcher acknowledgement (dispatch.action ack) of the incident, event time UTC; NULL until acknowledged',
    first_on_scene_at Nullable(DateTime64(3, 'UTC')) COMMENT 'first unit on scene (unit.gps on_scene with this assigned_incident), event time UTC; NULL until a unit arrives',
    time_to_arrive_s Nullable(Float64) COMMENT 'seconds from first_time to first_on_scene_at; NULL until a unit arrives',
    units_on_scene UInt16 COMMENT 'distinct units that reported on scene so far',
    chained UInt8 COMMENT '1 for a meta-incident: made by a rule over incidents (its evidence are other incidents), else 0',
    internal UInt8 COMMENT '1 for an incident of a helper rule (emit: false) that only feeds chained rules, never dispatched; else 0',
    schema_version LowCardinality(String) COMMENT 'contract version of the incident',
    restricted_key String COMMENT 'RESTRICTED: the incident key in clear (may be a phone number)',
    restricted_group String COMMENT 'RESTRICTED: the group key in clear',
    restricted_payload String COMMENT 'RESTRICTED: the incident exactly as emitted (JSON)'
)
AS SELECT * EXCEPT (archived_at) FROM ${db}.incidents FINAL ORDER BY id, version DESC LIMIT 1 BY id;

-- Local time per city: ClickHouse needs a constant timezone, so the views take it as a parameter.
-- *_local columns are the UTC columns shown in that timezone; local_date/local_hour/local_weekday (1 = Monday)
-- are for grouping by the city's day and hour.
CREATE OR REPLACE VIEW ${db}.incidents_local AS
SELECT *,
       toTimeZone(first_time, {tz:String}) AS first_time_local,
       toTimeZone(updated_time, {tz:String}) AS updated_time_local,
       toTimeZone(acknowledged_at, {tz:String}) AS acknowledged_at_local,
       toTimeZone(first_on_scene_at, {tz:String}) AS first_on_scene_at_local,
       toDate(first_time, {tz:String}) AS local_date,
       toHour(first_time, {tz:String}) AS local_hour,
       toDayOfWeek(first_time, 0, {tz:String}) AS local_weekday
FROM ${db}.incidents_latest;

CREATE OR REPLACE VIEW ${db}.events_local AS
SELECT * EXCEPT (payload),
       toTimeZone(time, {tz:String}) AS time_local,
       toDate(time, {tz:String}) AS local_date,
       toHour(time, {tz:String}) AS local_hour,
       toDayOfWeek(time, 0, {tz:String}) AS local_weekday
FROM ${db}.events;
