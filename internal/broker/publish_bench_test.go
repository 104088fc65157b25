package broker

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/testing/redistest"
)

// BenchmarkPublishConcurrent: 64 concurrent callbacks appending to 10 sessions on one
// instance (relaybench's closed loop), each with a drained socket; ns/op is per event.
func BenchmarkPublishConcurrent(b *testing.B) {
	prefix := redistest.Prefix(b, redistest.Client(b))
	in := newInstance(b, "", prefix, DefaultProbeInterval)
	const sessions = 10
	for i := range sessions {
		sub, err := in.hub.Subscribe(fmt.Sprintf("s%d", i), hub.Resume{})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			var buf []hub.Frame
			for {
				select {
				case <-sub.Ready():
					buf = sub.Take(buf[:0])
				case <-sub.Done():
					return
				}
			}
		}()
		b.Cleanup(func() { sub.Close(); <-done })
	}
	var n atomic.Int64
	b.SetParallelism(64 / max(1, testingProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			m := msg(int(i))
			m.ID = fmt.Sprintf("s:%d:%s", i, prefix)
			if _, err := in.broker.Publish([]string{fmt.Sprintf("s%d", i%sessions)}, m, m.Event); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
