package hub

import (
	"slices"
	"testing"
)

func ringSeqs(r *ring) []uint64 {
	var s []uint64
	for i := range r.len() {
		s = append(s, r.at(i).seq)
	}
	return s
}

func TestRingPushWrapsAndDropsOldest(t *testing.T) {
	for _, limit := range []int{1, 3, 8, 10, 100} {
		var r ring
		dropped := 0
		for seq := uint64(1); seq <= 250; seq++ {
			dropped += r.push(entry{seq: seq}, limit)
			n := min(int(seq), limit)
			if want := seqRange(seq-uint64(n)+1, seq); !slices.Equal(ringSeqs(&r), want) {
				t.Fatalf("limit %d after push %d: ring holds %v, want %v", limit, seq, ringSeqs(&r), want)
			}
		}
		if want := 250 - limit; dropped != want {
			t.Errorf("limit %d: push dropped %d entries, want %d", limit, dropped, want)
		}
		if len(r.buf) != limit {
			t.Errorf("limit %d: buffer grew to %d entries", limit, len(r.buf))
		}
	}
}

func TestRingTrimBefore(t *testing.T) {
	var r ring
	for seq := uint64(1); seq <= 12; seq++ {
		r.push(entry{seq: seq, at: int64(seq) * 10}, 10) // holds 3..12, at 30..120
	}
	if n := r.trimBefore(55); n != 3 { // drops 3, 4, 5
		t.Fatalf("trimBefore(55) dropped %d, want 3", n)
	}
	if got, want := ringSeqs(&r), seqRange(6, 12); !slices.Equal(got, want) {
		t.Fatalf("after trim: %v, want %v", got, want)
	}
	if n := r.trimBefore(1000); n != 7 || r.len() != 0 || r.buf != nil {
		t.Fatalf("trimBefore(1000) dropped %d, left %d entries, buf %v; want 7, 0, nil", n, r.len(), r.buf)
	}
	r.push(entry{seq: 13}, 10)
	if got := ringSeqs(&r); !slices.Equal(got, []uint64{13}) {
		t.Fatalf("push after emptying: %v", got)
	}
}

func TestRingIndex(t *testing.T) {
	var r ring
	if got := r.index(5); got != 0 {
		t.Fatalf("empty ring: index(5) = %d, want 0", got)
	}
	for seq := uint64(1); seq <= 9; seq++ {
		r.push(entry{seq: seq}, 5) // holds 5..9
	}
	tests := []struct {
		after uint64
		want  int
	}{
		{0, 0}, {3, 0}, {4, 0}, {5, 1}, {7, 3}, {8, 4}, {9, 5}, {100, 5},
	}
	for _, tt := range tests {
		if got := r.index(tt.after); got != tt.want {
			t.Errorf("index(%d) = %d, want %d", tt.after, got, tt.want)
		}
	}
}
