package store

import "sync"

// Batcher is a group commit: concurrent callers of Do hand in one request each, and their
// requests reach Redis together, in one round trip per batch, instead of one each. While a
// batch is in flight new requests queue; when it returns, the first queued caller takes the
// queue (at most Max requests, at most MaxWeight of Weight) as the next batch. Nothing
// waits for a batch to fill: a lone request goes at once, and under load the batches grow
// by themselves to what arrived during one round trip. The caller at the head of the queue
// does the work, so there is no goroutine to stop. Requests are committed in the order they
// were queued, one batch at a time (two or four batches in flight measured no better in
// relaybench's closed loop: docs/perf-redis-17.md).
type Batcher[T any] struct {
	// Commit sends one batch and records each request's outcome in it (T is a pointer to
	// a request with room for its result). It must not panic.
	Commit    func(batch []T)
	Max       int         // requests per batch; 0 = no limit
	MaxWeight int         // total Weight per batch (a batch holds one request regardless); 0 = no limit
	Weight    func(T) int // a request's weight (its bytes); nil = 0

	mu      sync.Mutex
	queue   []*batched[T] // requests waiting for the batch in flight
	leading bool          // a caller is committing a batch
}

type batched[T any] struct {
	v    T
	turn chan bool // true: lead the next batch; false: committed
}

// Do queues v and returns once the batch holding it was committed.
func (b *Batcher[T]) Do(v T) {
	r := &batched[T]{v: v, turn: make(chan bool, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := !b.leading // then the queue was empty: r is at its head
	b.leading = true
	b.mu.Unlock()
	if !lead {
		lead = <-r.turn
	}
	if lead {
		b.lead()
		<-r.turn // r was in the batch just committed
	}
}

// lead commits one batch from the head of the queue, then hands the lead to the first
// caller still queued, or gives it up.
func (b *Batcher[T]) lead() {
	b.mu.Lock()
	n, weight := 0, 0
	for n < len(b.queue) && (b.Max <= 0 || n < b.Max) {
		w := 0
		if b.Weight != nil {
			w = b.Weight(b.queue[n].v)
		}
		if n > 0 && b.MaxWeight > 0 && weight+w > b.MaxWeight {
			break
		}
		weight += w
		n++
	}
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	vs := make([]T, len(batch))
	for i, r := range batch {
		vs[i] = r.v
	}
	b.Commit(vs)
	for _, r := range batch {
		r.turn <- false
	}

	b.mu.Lock()
	if len(b.queue) == 0 {
		b.leading, b.queue = false, nil
	} else {
		b.queue[0].turn <- true
	}
	b.mu.Unlock()
}
