package hub

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrencyStress runs publishers, state senders, reconnecting
// subscribers, releases and sweeps against a few sessions at once. Under
// -race it finds data races and send-on-closed-channel panics; each
// connection also checks the ordering guarantee: after an optional gap
// notice, events continue exactly from the resume point, one seq at a time.
func TestConcurrencyStress(t *testing.T) {
	const (
		sessions    = 4
		publishers  = 4
		perPublish  = 2000
		subscribers = 6
		releases    = 100
	)
	h := newHub(Config{HistorySize: 32, BufferSize: 4, HistoryAge: time.Minute})
	id := func(i int) string { return fmt.Sprintf("s%d", i%sessions) }

	var producers, consumers sync.WaitGroup
	for p := range publishers {
		producers.Go(func() {
			for i := range perPublish {
				h.Publish(id(p+i), event(i))
				if i%50 == 0 {
					h.SendState(id(i), []byte(`{"type":"feed_status"}`))
				}
			}
		})
	}
	producers.Go(func() {
		for i := range releases {
			h.Release(id(i))
			h.Sweep(time.Now())
			_ = h.Stats()
		}
	})
	for c := range subscribers {
		consumers.Go(func() { stressSubscriber(t, h, id(c)) })
	}

	producers.Wait()
	h.Close() // ends every consumer: their subscribers are dropped, Subscribe fails
	consumers.Wait()
	wantStats(t, h, Stats{Slow: h.Stats().Slow})
}

// stressSubscriber connects to session id again and again until the hub is
// closed, resuming from the last seq seen, and checks each connection's order.
func stressSubscriber(t *testing.T, h *Hub, id string) {
	resume := Resume{}
	for conn := 0; ; conn++ {
		sub, err := h.Subscribe(id, resume)
		if err != nil {
			return // closed
		}
		want := resume.AfterSeq + 1 // the next seq this connection must deliver
		if resume.Epoch != h.Epoch() {
			want = 0 // first connection: anything goes for the first event
		}
		readFrames := 5 + conn%20 // then leave, unless dropped before
	read:
		for n := 0; n < readFrames; n++ {
			f, ok := recv(sub, 0)
			if !ok {
				select {
				case <-sub.Ready():
					f, ok = recv(sub, 0)
				case <-sub.Done():
					f, ok = recv(sub, 0)
				case <-time.After(wait): // Close drops every subscriber; nothing may outlive it
					t.Errorf("session %s connection %d: neither a frame nor Done within %v", id, conn, wait)
					sub.Close()
					return
				}
			}
			if !ok {
				if sub.Err() != nil {
					break read
				}
				n-- // a stale Ready token: wait again
				continue
			}
			fr := decode(t, f.Data)
			switch {
			case fr.Type == "history_gap":
				want = fr.FirstAvailableSeq
			case fr.Seq != 0:
				if want != 0 && fr.Seq != want {
					t.Errorf("session %s connection %d: seq %d, want %d", id, conn, fr.Seq, want)
				}
				want = fr.Seq + 1
				resume = Resume{Epoch: fr.Epoch, AfterSeq: fr.Seq}
			}
		}
		sub.Close()
	}
}
