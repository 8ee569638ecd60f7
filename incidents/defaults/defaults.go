// Package defaults holds the data Flare ships with: the category taxonomy of a
// 12345 hotline and coarse outlines of Zhuhai's districts, which also make the
// default service area. Deployments replace either with their own files.
package defaults

import _ "embed"

// Categories is the default category taxonomy as JSON (groups and
// categories, each with code, Chinese and English names).
//
//go:embed categories.json
var Categories []byte

// ZhuhaiDistricts is a GeoJSON FeatureCollection of coarse outlines of
// Zhuhai's districts and the Hengqin cooperation zone. Each feature has the
// properties code, name (Chinese), name_en and, for districts, adcode.
//
//go:embed zhuhai-districts.geojson
var ZhuhaiDistricts []byte

// Departments is the default list of member departments and district
// governments of a Zhuhai 12345 hotline, with the categories each owns.
//
//go:embed departments.json
var Departments []byte
