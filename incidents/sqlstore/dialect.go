package sqlstore

import (
	"encoding/json"
	"time"
)

// Dialect is what the two databases write differently. The shared SQL is
// written with Postgres' $N placeholders; a dialect whose Param is '?' reads
// them as SQLite's ?N.
type Dialect struct {
	// Name names the database in messages.
	Name string
	// Param is the first character of a numbered placeholder.
	Param byte
	// Time encodes a time for a column that is sorted or compared.
	Time func(time.Time) any
	// List encodes a list of strings as one parameter, which In and Each
	// read.
	List func([]string) any
	// In returns the condition that col is one of the list parameter p.
	In func(col, p string) string
	// Each returns a table of the list parameter p, with one column, value.
	Each func(p string) string
	// ForUpdate ends a read in a transaction that locks the rows it
	// returns; SkipLocked one that passes over rows others have locked.
	ForUpdate, SkipLocked string
	// StartsWith returns the condition that col starts with parameter p.
	StartsWith func(col, p string) string
	// JSON returns parameter p, JSON text, as a value of a JSON column.
	JSON func(p string) string
	// TableExists is a query of whether the table named by its parameter
	// exists.
	TableExists string
}

// SQLite is the dialect of the embedded store: times are INTEGER Unix
// nanoseconds, lists JSON arrays read with json_each, and the single writer
// makes row locks needless.
var SQLite = &Dialect{
	Name:  "sqlite",
	Param: '?',
	Time:  func(t time.Time) any { return Nanos(t) },
	List: func(ss []string) any {
		if ss == nil {
			ss = []string{}
		}
		b, _ := json.Marshal(ss) // strings always encode
		return string(b)
	},
	In:          func(col, p string) string { return col + " IN (SELECT value FROM json_each(" + p + "))" },
	Each:        func(p string) string { return "json_each(" + p + ")" },
	StartsWith:  func(col, p string) string { return "instr(" + col + ", " + p + ") = 1" },
	JSON:        func(p string) string { return p },
	TableExists: `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)`,
}

// Postgres is the dialect of the scale-out store: times are timestamptz,
// lists text arrays, and reads in a transaction lock their rows.
var Postgres = &Dialect{
	Name:  "postgres",
	Param: '$',
	Time:  func(t time.Time) any { return t },
	List: func(ss []string) any {
		if ss == nil {
			ss = []string{}
		}
		return ss
	},
	In:          func(col, p string) string { return col + " = ANY(" + p + "::text[])" },
	Each:        func(p string) string { return "unnest(" + p + "::text[]) AS list (value)" },
	ForUpdate:   " FOR UPDATE",
	SkipLocked:  " FOR UPDATE SKIP LOCKED",
	StartsWith:  func(col, p string) string { return "starts_with(" + col + ", " + p + ")" },
	JSON:        func(p string) string { return p + "::text::json" },
	TableExists: `SELECT to_regclass($1) IS NOT NULL`,
}

// strs returns values as strings.
func strs[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
