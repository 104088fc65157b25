package app

import (
	"context"
	"testing"
	"time"
)

func TestMemSessions(t *testing.T) {
	s := newMemSessions()
	now := time.Now()
	if err := s.Commit("live", []byte("a"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("expired", []byte("b"), now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := s.Find("live"); string(b) != "a" || !ok || err != nil {
		t.Errorf(`Find("live") = %q, %v, %v; want "a", true, nil`, b, ok, err)
	}
	if b, ok, _ := s.Find("expired"); ok || b != nil {
		t.Errorf(`Find("expired") = %q, %v; want nothing: it expired`, b, ok)
	}
	if n := s.sweep(now); n != 1 {
		t.Errorf("sweep removed %d sessions, want the 1 expired", n)
	}
	if n := s.sweep(now.Add(2 * time.Hour)); n != 1 || len(s.m) != 0 {
		t.Errorf("sweep an hour after the last expiry removed %d, left %d; want 1 and 0", n, len(s.m))
	}
	if err := s.Commit("gone", []byte("c"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Find("gone"); ok {
		t.Error("Find after Delete found the session")
	}
}

func TestMemSessionsRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { newMemSessions().run(ctx, time.Hour); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
