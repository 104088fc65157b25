package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/hub"
)

// BenchmarkSocketSend is one event frame written to a real WebSocket on loopback and read by
// the other end, as a fan-out writes one per socket: "context per write" is how frames were
// written before (a context with a deadline, and coder's AfterFunc on it, per message),
// "socket timer" is wsSocket.send (one timer per socket, reset per message).
func BenchmarkSocketSend(b *testing.B) {
	frame := []byte(`{"type":"event_updated","seq":1,"epoch":"e","time":"2026-03-01T12:00:00Z","event":{"id":"x","summary":"` + strings.Repeat("y", 500) + `"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, cc := socketPair(b, ctx)
	read := func(b *testing.B) {
		if _, _, err := cc.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("context per write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := write(context.Background(), c, frame); err != nil {
				b.Fatal(err)
			}
			read(b)
		}
	})
	b.Run("socket timer", func(b *testing.B) {
		h := hub.New(hub.Config{HistorySize: 1, HistoryAge: time.Minute})
		defer h.Close()
		sub, err := h.Subscribe("s", hub.Resume{})
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		w := &wsSocket{c: c, sub: sub, writeTimeout: wsWriteTimeout, stuck: time.AfterFunc(wsWriteTimeout, func() { c.CloseNow() })}
		w.stuck.Stop()
		defer w.stuck.Stop()
		b.ReportAllocs()
		for b.Loop() {
			if err := w.send(frame); err != nil {
				b.Fatal(err)
			}
			read(b)
		}
	})
}
