package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"flare/incidents"
)

// BenchmarkCreateCallHTTP measures call intake over HTTP on the embedded
// store: 64 clients posting at once, each call acknowledged only after its
// commit.
func BenchmarkCreateCallHTTP(b *testing.B) {
	s := newTestServer(b)
	token := s.token(b, incidents.RoleAgent, "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	var n atomic.Int64
	b.SetParallelism(32) // 64 clients on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"lat":%.5f,"lon":%.5f,"category":"waterlogging","description":"bench"}`, 22.26+float64(i%100)*0.0005, 113.53+float64(i%97)*0.0005)
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/calls", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				b.Fatalf("POST %s = %d", body, res.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
