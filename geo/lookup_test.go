package geo

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestClusterMatchesClusters checks that looking one cluster up gives the
// same summary as listing them all, after every arrival of a random stream.
func TestClusterMatchesClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	d, err := NewDetector(Rule{Name: "r", Eps: 300, MinCalls: 4, Window: 20 * time.Minute}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 9, 14, 20, 0, 0, 0, time.UTC)
	for i := 0; i < 600; i++ {
		at = at.Add(time.Duration(rng.IntN(20)) * time.Second)
		p := Point{ID: "c" + strconv.Itoa(i), Time: at, Lat: 22.27 + rng.Float64()*0.01, Lon: 113.57 + rng.Float64()*0.01, Category: "other"}
		if err := d.Add(p); err != nil {
			t.Fatal(err)
		}
		for _, want := range d.Clusters() {
			got, ok := d.Cluster(want.ID)
			if !ok || !slices.Equal(got.Calls, want.Calls) || !slices.Equal(got.CoreCalls, want.CoreCalls) || got.Centroid != want.Centroid {
				t.Fatalf("after %d calls Cluster(%d) = %v, %v; want %v", i+1, want.ID, got.Calls, ok, want.Calls)
			}
		}
	}
	if _, ok := d.Cluster(1 << 40); ok {
		t.Error("Cluster(unknown id) found a cluster")
	}
}
