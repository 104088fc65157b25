package hub

// entry is one published event in a session's history.
type entry struct {
	seq   uint64
	at    int64 // unix nanoseconds when published, by the hub's clock
	frame []byte
}

// ring is a session's history: a circular buffer of entries with consecutive
// sequence numbers, oldest first. It grows on demand up to its maximum, so a
// quiet session costs little, and lets go of its buffer when it empties.
// The zero value is empty. It is guarded by its session's lock.
type ring struct {
	buf   []entry
	head  int // index of the oldest entry in buf
	n     int // entries held
	bytes int // of the frames held
}

func (r *ring) len() int { return r.n }

// at returns the i-th oldest entry, 0 ≤ i < len.
func (r *ring) at(i int) *entry {
	i += r.head
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

// push appends e, dropping the oldest entry when limit entries are held. It
// returns the number of entries dropped (0 or 1).
func (r *ring) push(e entry, limit int) int {
	dropped := 0
	if r.n == len(r.buf) {
		if len(r.buf) < limit {
			r.grow(limit)
		} else {
			r.pop()
			dropped = 1
		}
	}
	*r.at(r.n) = e
	r.n++
	r.bytes += len(e.frame)
	return dropped
}

// trimBytes drops the oldest entries until at most limit bytes of frames are held, keeping
// the newest entry whatever its size, and returns how many it dropped.
func (r *ring) trimBytes(limit int) int {
	dropped := 0
	for r.n > 1 && r.bytes > limit {
		r.pop()
		dropped++
	}
	return dropped
}

func (r *ring) grow(limit int) {
	size := min(limit, max(8, 2*len(r.buf)))
	buf := make([]entry, size)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}

// pop drops the oldest entry; the ring must not be empty.
func (r *ring) pop() {
	r.bytes -= len(r.buf[r.head].frame)
	r.buf[r.head] = entry{} // let the frame be collected
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
}

// trimBefore drops the entries published before cutoff (unix nanoseconds)
// and returns how many it dropped.
func (r *ring) trimBefore(cutoff int64) int {
	dropped := 0
	for r.n > 0 && r.at(0).at < cutoff {
		r.pop()
		dropped++
	}
	if r.n == 0 {
		r.buf, r.head, r.bytes = nil, 0, 0
	}
	return dropped
}

// index returns the position of the first entry with a seq above after
// (len when there is none).
func (r *ring) index(after uint64) int {
	if r.n == 0 {
		return 0
	}
	first := r.at(0).seq
	if after < first {
		return 0
	}
	if d := after - first + 1; d < uint64(r.n) {
		return int(d)
	}
	return r.n
}
