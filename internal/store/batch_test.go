package store

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestBatcherCommitsEachOnceInBatches: 200 concurrent requests while the first batch is held
// in flight are each committed exactly once, the queued ones together in batches of at most
// Max, one batch at a time, and every caller returns only after its own batch.
func TestBatcherCommitsEachOnceInBatches(t *testing.T) {
	const n, maxBatch = 200, 64
	type req struct {
		id   int
		done bool
	}
	release := make(chan struct{})
	var (
		mu        sync.Mutex
		committed = map[int]int{}
		sizes     []int
		inFlight  int
	)
	b := &Batcher[*req]{Max: maxBatch, Commit: func(batch []*req) {
		mu.Lock()
		inFlight++
		if inFlight > 1 {
			t.Errorf("%d batches in flight at once", inFlight)
		}
		first := len(sizes) == 0
		sizes = append(sizes, len(batch))
		mu.Unlock()
		if first {
			<-release // hold the first batch until every other request queued
		}
		mu.Lock()
		for _, r := range batch {
			committed[r.id]++
			r.done = true
		}
		inFlight--
		mu.Unlock()
	}}
	var wg sync.WaitGroup
	reqs := make([]*req, n)
	for i := range reqs {
		reqs[i] = &req{id: i}
	}
	wg.Go(func() { b.Do(reqs[0]) })
	deadline := time.Now().Add(10 * time.Second)
	for queued := 0; queued == 0; { // the first is in flight
		mu.Lock()
		queued = len(sizes)
		mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the first batch never started")
		}
		runtime.Gosched()
	}
	for _, r := range reqs[1:] {
		wg.Go(func() {
			b.Do(r)
			if !r.done {
				t.Errorf("request %d returned before its batch was committed", r.id)
			}
		})
	}
	for queued := 0; queued < n-1; {
		b.mu.Lock()
		queued = len(b.queue)
		b.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests queued", queued, n-1)
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	for i := range n {
		if committed[i] != 1 {
			t.Errorf("request %d committed %d times", i, committed[i])
		}
	}
	want := []int{1, 64, 64, 64, 7}
	if len(sizes) != len(want) {
		t.Fatalf("batches %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("batches %v, want %v", sizes, want)
		}
	}
}

// TestBatcherWeight: a batch stops before MaxWeight, but always holds one request.
func TestBatcherWeight(t *testing.T) {
	var sizes []int
	b := &Batcher[int]{MaxWeight: 10, Weight: func(w int) int { return w },
		Commit: func(batch []int) { sizes = append(sizes, len(batch)) }}
	for _, w := range []int{4, 5, 3, 20} {
		b.queue = append(b.queue, &batched[int]{v: w, turn: make(chan bool, 1)})
	}
	all := b.queue
	b.leading = true
	for b.leading { // lead as each batch's first caller would, told or not
		b.lead()
		for _, r := range all {
			select {
			case <-r.turn:
			default:
			}
		}
	}
	if len(sizes) != 3 || sizes[0] != 2 || sizes[1] != 1 || sizes[2] != 1 {
		t.Fatalf("batches %v, want [2 1 1]", sizes)
	}
}
