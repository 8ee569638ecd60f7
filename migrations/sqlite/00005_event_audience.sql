-- Every event keeps its audience: who may see it besides the leadership
-- group and the administrators, as the domain decided when it appended it
-- (incidents.Audience as JSON: {"floor":true,"hotline":true,"depts":[...]}).
-- Events stored before are given what incidents.AudienceOf decides from
-- their type and data: call.* events are for the call floor, and so is any
-- event whose data says "urgent": true; the departments are those of data's
-- "dept", "previous_dept" and "departments". Data with a field of the wrong
-- type gives no department and no urgency, as it fails to decode there.

-- +goose Up
ALTER TABLE events ADD COLUMN audience TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(audience));

UPDATE events SET audience = (
    SELECT json_patch(
        CASE WHEN substr(events.type, 1, 5) = 'call.'
                OR (f.ok AND json_type(events.data, '$.urgent') = 'true')
            THEN '{"floor":true}' ELSE '{}' END,
        CASE WHEN f.ok AND f.depts <> '[]' THEN json_object('depts', json(f.depts)) ELSE '{}' END)
    FROM (
        SELECT o.ok, CASE WHEN o.ok THEN (
            SELECT json_group_array(d ORDER BY d) FROM (
                SELECT DISTINCT d FROM (
                    SELECT value AS d FROM json_each(events.data, '$.departments')
                    UNION ALL SELECT json_extract(events.data, '$.dept')
                    UNION ALL SELECT json_extract(events.data, '$.previous_dept')
                ) WHERE d IS NOT NULL AND d <> ''
            )
        ) END AS depts
        FROM (
            SELECT json_type(events.data) = 'object'
                AND coalesce(json_type(events.data, '$.dept'), 'null') IN ('text', 'null')
                AND coalesce(json_type(events.data, '$.previous_dept'), 'null') IN ('text', 'null')
                AND coalesce(json_type(events.data, '$.urgent'), 'null') IN ('true', 'false', 'null')
                AND coalesce(json_type(events.data, '$.departments'), 'null') IN ('array', 'null')
                AND NOT EXISTS (SELECT 1 FROM json_each(events.data, '$.departments')
                    WHERE json_type(events.data, '$.departments') = 'array' AND type NOT IN ('text', 'null'))
                AS ok
        ) AS o
    ) AS f
);

-- +goose Down
ALTER TABLE events DROP COLUMN audience;
