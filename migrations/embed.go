// Package migrations holds Flare's versioned schema migrations, one set per
// store, embedded in the binary. The files follow goose's SQL format
// (NNNNN_name.sql with "-- +goose Up" and "-- +goose Down" sections); the
// store adapters apply them with a goose Provider.
//
// The two sets always carry the same versions and names, so that
// `flare migrate status` reads the same on either store.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite holds the migrations of the embedded SQLite store, at its root.
var SQLite fs.FS = sub("sqlite")

// Postgres holds the migrations of the Postgres store, at its root.
var Postgres fs.FS = sub("postgres")

// sub returns the embedded folder dir as a file system of its own. It panics
// only if dir is not a valid path, which a test would catch at once.
func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err)
	}
	return f
}
