-- Calls lose their (lat, lon) index. Every call inserted wrote a leaf page of
-- it at a random place, the largest part of each commit's writes, and no
-- listing needs it: calls are listed newest first, through the received_at
-- index, and a bounding box filters them on the way.

-- +goose Up
DROP INDEX calls_lat_lon;

-- +goose Down
CREATE INDEX calls_lat_lon ON calls (lat, lon);
