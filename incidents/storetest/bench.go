package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"flare/incidents"
)

// BenchmarkCreateCalls measures CreateCalls with batches of 1, 16 and 128
// new calls (each with an idempotency key), from one goroutine and from 8
// concurrent writers (on up to 8 CPUs). open must return an empty, migrated
// store of its own, closed when b ends. Besides ns/op (per batch), it
// reports calls/s.
func BenchmarkCreateCalls(b *testing.B, open func(tb testing.TB) incidents.Store) {
	for _, size := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := open(b)
			var next atomic.Int64
			b.ReportAllocs()
			for b.Loop() {
				if err := createBatch(s, size, &next); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "calls/s")
		})
		b.Run(fmt.Sprintf("batch=%d/writers=8", size), func(b *testing.B) {
			s := open(b)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := createBatch(s, size, &next); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// createBatch stores size new calls in one batch, numbering them from next.
func createBatch(s incidents.Store, size int, next *atomic.Int64) error {
	batch := make([]incidents.NewCall, size)
	for i := range batch {
		n := next.Add(1)
		c := newCall(fmt.Sprintf("bench-%09d", n), base.Add(time.Duration(n)*time.Millisecond))
		c.IdempotencyKey = c.ID
		batch[i] = c
	}
	res, err := s.CreateCalls(context.Background(), batch)
	if err != nil {
		return fmt.Errorf("CreateCalls(%d calls) = %w, want no error", size, err)
	}
	for _, r := range res {
		if !r.Created {
			return fmt.Errorf("CreateCalls(%d calls): call %s not created (%v)", size, r.Call.ID, r.Err)
		}
	}
	return nil
}
