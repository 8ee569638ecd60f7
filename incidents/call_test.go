package incidents_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"flare/incidents"
)

// reflectJSON is the call as encoding/json writes it by reflection: what
// Call.MarshalJSON must keep writing.
func reflectJSON(t *testing.T, c incidents.Call) []byte {
	t.Helper()
	type plain incidents.Call
	b, err := json.Marshal(struct {
		plain
		Location incidents.GeoPoint `json:"location"`
	}{plain(c), incidents.GeoPoint{Type: "Point", Coordinates: [2]float64{c.Lon, c.Lat}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCallJSONMatchesEncodingJSON(t *testing.T) {
	awkward := []string{"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "line\nbreak\ttab\rreturn",
		"\x00\x01\x1f\x7f", "积水 · 香洲区", "emoji 🌀", "bad utf-8 \xff\xfe end", "sep \u2028 and \u2029",
		strings.Repeat("长", 4000)}
	floats := []float64{0, 22.2215, 113.5485, -0.5, 1e-7, -3.5e-9, 1e21, 180, -90, 22.123456789012}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i := 0; i < 2000; i++ {
		c := incidents.Call{
			ID: pick(awkward), Seq: rng.Int64N(1 << 40), Category: pick(awkward), Address: pick(awkward),
			Description: pick(awkward), Caller: pick(awkward), Actor: pick(awkward), Urgent: rng.IntN(2) == 0,
			ReceivedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC(),
			RecordedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e6)*1000).In(time.FixedZone("CST", 8*3600)),
			Lat:        floats[rng.IntN(len(floats))], Lon: rng.Float64()*360 - 180,
		}
		if i%3 == 0 {
			c.Lon = floats[rng.IntN(len(floats))]
		}
		got, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if want := reflectJSON(t, c); !bytes.Equal(got, want) {
			t.Fatalf("call %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
