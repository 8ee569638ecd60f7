-- Every event keeps its audience: who may see it besides the leadership
-- group and the administrators, as the domain decided when it appended it
-- (incidents.Audience as JSON: {"floor":true,"hotline":true,"depts":[...]}).
-- Events stored before are given what incidents.AudienceOf decides from
-- their type and data: call.* events are for the call floor, and so is any
-- event whose data says "urgent": true; the departments are those of data's
-- "dept", "previous_dept" and "departments", in byte order. Data with a
-- field of the wrong type gives no department and no urgency, as it fails
-- to decode there.

-- +goose Up
ALTER TABLE events ADD COLUMN audience jsonb NOT NULL DEFAULT '{}';

UPDATE events SET audience = (
    SELECT CASE WHEN starts_with(events.type, 'call.')
                OR (f.ok AND events.data -> 'urgent' = 'true'::jsonb)
            THEN '{"floor":true}'::jsonb ELSE '{}'::jsonb END
        || CASE WHEN f.ok AND f.depts IS NOT NULL THEN jsonb_build_object('depts', f.depts) ELSE '{}'::jsonb END
    FROM (
        SELECT o.ok, CASE WHEN o.ok THEN (
            SELECT jsonb_agg(d ORDER BY d COLLATE "C") FROM (
                SELECT DISTINCT d FROM (
                    SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(events.data -> 'departments') = 'array'
                        THEN events.data -> 'departments' ELSE '[]'::jsonb END) AS d
                    UNION ALL SELECT events.data ->> 'dept'
                    UNION ALL SELECT events.data ->> 'previous_dept'
                ) AS named WHERE d IS NOT NULL AND d <> ''
            ) AS distinct_named
        ) END AS depts
        FROM (
            SELECT jsonb_typeof(events.data) = 'object'
                AND coalesce(jsonb_typeof(events.data -> 'dept'), 'null') IN ('string', 'null')
                AND coalesce(jsonb_typeof(events.data -> 'previous_dept'), 'null') IN ('string', 'null')
                AND coalesce(jsonb_typeof(events.data -> 'urgent'), 'null') IN ('boolean', 'null')
                AND coalesce(jsonb_typeof(events.data -> 'departments'), 'null') IN ('array', 'null')
                AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(events.data -> 'departments') = 'array'
                        THEN events.data -> 'departments' ELSE '[]'::jsonb END) AS el
                    WHERE jsonb_typeof(el) NOT IN ('string', 'null'))
                AS ok
        ) AS o
    ) AS f
);

-- +goose Down
ALTER TABLE events DROP COLUMN audience;
