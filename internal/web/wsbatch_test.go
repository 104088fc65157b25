package web

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
)

func framesOf(sizes ...int) []hub.Frame {
	fs := make([]hub.Frame, len(sizes))
	for i, n := range sizes {
		pad := n - len(fmt.Sprintf(`{"type":"event_updated","seq":%d,"p":""}`, i+1))
		fs[i] = hub.Frame{Data: fmt.Appendf(nil, `{"type":"event_updated","seq":%d,"p":"%s"}`, i+1, bytes.Repeat([]byte("x"), max(pad, 0)))}
	}
	return fs
}

// A batch holds as many frames as fit in its byte bound, and at least one (a frame larger
// than the bound goes alone); it is a JSON array of the frames, in order, that a client reads
// back frame by frame.
func TestBatches(t *testing.T) {
	tests := []struct {
		sizes []int
		max   int
		want  int
	}{
		{[]int{100}, 1000, 1},
		{[]int{100, 100, 100}, 1000, 3},
		{[]int{100, 100, 100}, 2 + 100 + 1 + 100, 2}, // exactly two with '[', ',' and ']'
		{[]int{100, 100, 100}, 2 + 100 + 1 + 100 - 1, 1},
		{[]int{5000, 100}, 1000, 1},
		{[]int{100, 5000}, 1000, 1},
	}
	for _, tt := range tests {
		fs := framesOf(tt.sizes...)
		if got := batchLen(fs, tt.max); got != tt.want {
			t.Errorf("batchLen(%v, %d) = %d, want %d", tt.sizes, tt.max, got, tt.want)
		}
	}
	fs := framesOf(120, 130, 140)
	b := appendBatch(nil, fs)
	if got, want := len(b), 2+120+1+130+1+140; got != want {
		t.Errorf("batch is %d bytes, want %d", got, want)
	}
	got, err := client.DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("decoded %d frames, want 3", len(got))
	}
	for i, f := range got {
		if f.Seq != uint64(i+1) || !bytes.Equal(f.Raw, fs[i].Data) {
			t.Errorf("frame %d: seq %d, raw %.40s; want seq %d and the frame's bytes", i, f.Seq, f.Raw, i+1)
		}
	}
}
