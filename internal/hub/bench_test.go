package hub

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/config"
)

// sampleEvent is a channel.follow notification event as Twitch sends it.
var sampleEvent = json.RawMessage(`{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User",` +
	`"broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User",` +
	`"followed_at":"2026-01-02T15:04:05.123456789Z"}`)

var sampleMessage = Message{Type: "event_updated", Event: sampleEvent}

// drain empties every subscriber's buffer, as their socket writers would.
func drain(subs []*Subscriber) {
	for _, sub := range subs {
		sub.Take(nil)
	}
}

// BenchmarkPublish publishes to one session with n subscribers. The buffers
// are emptied between batches with the timer stopped, so the figure is the
// cost of Publish itself: encode once, record, fan out to n channels.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			const batch = DefaultBufferSize
			h := newHub(Config{})
			defer h.Close()
			subs := make([]*Subscriber, n)
			for i := range subs {
				subs[i], _ = h.Subscribe("s", Resume{})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				h.Publish("s", sampleMessage)
				if i%batch == batch-1 {
					b.StopTimer()
					drain(subs)
					b.StartTimer()
				}
			}
			b.StopTimer()
			if s := h.Stats(); s.Slow != 0 || s.Subscribers != n {
				b.Fatalf("subscribers dropped: %+v", s)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkPublishManySessions spreads publishes over many sessions, each
// with one subscriber (serial, buffers drained between rounds with the timer
// stopped) or with none (parallel publishers: only the session map, the lock
// and the history ring are exercised).
func BenchmarkPublishManySessions(b *testing.B) {
	for _, sessions := range []int{1000, 10000} {
		ids := make([]string, sessions)
		for i := range ids {
			ids[i] = fmt.Sprintf("session-%032x", i)
		}
		b.Run(fmt.Sprintf("sessions=%d/subscribed", sessions), func(b *testing.B) {
			h := newHub(Config{})
			defer h.Close()
			subs := make([]*Subscriber, sessions)
			for i, id := range ids {
				subs[i], _ = h.Subscribe(id, Resume{})
			}
			round := sessions * (DefaultBufferSize / 2)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				h.Publish(ids[i%sessions], sampleMessage)
				if i%round == round-1 {
					b.StopTimer()
					drain(subs)
					b.StartTimer()
				}
			}
			b.StopTimer()
			if s := h.Stats(); s.Slow != 0 {
				b.Fatalf("subscribers dropped: %+v", s)
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/parallel-unsubscribed", sessions), func(b *testing.B) {
			h := newHub(Config{})
			defer h.Close()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(time.Now().UnixNano()) // different sessions per goroutine
				for pb.Next() {
					i++
					h.Publish(ids[uint(i)%uint(sessions)], sampleMessage)
				}
			})
		})
	}
}

// BenchmarkSubscribeResume is a reconnect into a full history.
func BenchmarkSubscribeResume(b *testing.B) {
	h := newHub(Config{})
	defer h.Close()
	for range config.DefaultHistorySize {
		h.Publish("s", sampleMessage)
	}
	b.ReportAllocs()
	for b.Loop() {
		sub, err := h.Subscribe("s", Resume{Epoch: h.Epoch()})
		if err != nil || sub.Pending() != config.DefaultHistorySize {
			b.Fatalf("Subscribe: %v, backlog %d", err, sub.Pending())
		}
		sub.Close()
	}
}

// BenchmarkIdleSubscriberMemory reports the heap held per idle subscriber,
// each in its own session with no history: the hub's share of the ≤ 20 KiB
// per idle socket target (issue 9).
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	h := newHub(Config{})
	defer h.Close()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("session-%032x", i)
	}
	subs := make([]*Subscriber, 0, b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		sub, _ := h.Subscribe(ids[i], Resume{})
		subs = append(subs, sub)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-B/sub")
	runtime.KeepAlive(subs)
}
