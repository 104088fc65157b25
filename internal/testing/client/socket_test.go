package client

import (
	"errors"
	"testing"
)

// TestResumingSocketHoldsTheServerToItsPromise: the checks a resuming socket makes on the
// frames it reads, which are what the flood and burst tests rely on to fail on loss.
func TestResumingSocketHoldsTheServerToItsPromise(t *testing.T) {
	ev := func(epoch string, seq uint64, id string) Frame {
		return Frame{Type: "event_updated", Epoch: epoch, Seq: seq, Event: &Event{ID: id}}
	}
	gap := Frame{Type: "history_gap", Epoch: "e1", AfterSeq: 0, FirstAvailableSeq: 5}
	tests := []struct {
		name      string
		fromPoint bool // the connection resumed from a point it had reached
		frames    []Frame
		want      error // of the last frame; the others must pass
		wantGap   bool
	}{
		{"in order", false, []Frame{ev("e1", 1, "a"), ev("e1", 2, "b")}, nil, false},
		{"missing seq", false, []Frame{ev("e1", 1, "a"), ev("e1", 3, "c")}, ErrMissing, false},
		{"repeated seq", false, []Frame{ev("e1", 1, "a"), ev("e1", 1, "a")}, ErrOutOfOrder, false},
		{"repeated id", false, []Frame{ev("e1", 1, "a"), ev("e1", 2, "a")}, ErrDuplicate, false},
		{"repeated id in a new epoch", false, []Frame{ev("e1", 1, "a"), ev("e2", 1, "a")}, ErrDuplicate, false},
		{"new epoch starts at 1", false, []Frame{ev("e1", 1, "a"), ev("e2", 1, "b")}, nil, false},
		{"new epoch skips", false, []Frame{ev("e1", 1, "a"), ev("e2", 2, "b")}, ErrMissing, false},
		{"fresh page, history trimmed", false, []Frame{gap, ev("e1", 5, "a")}, nil, false},
		{"resumed, history trimmed", true, []Frame{gap}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := (&Socket{fromPoint: tt.fromPoint}).ResumeOnClose(MaxResumes)
			var err error
			for i, f := range tt.frames {
				if err = s.check(f); err != nil && i < len(tt.frames)-1 {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			var ge *GapError
			switch {
			case tt.wantGap && !errors.As(err, &ge):
				t.Fatalf("got %v, want a *GapError", err)
			case !tt.wantGap && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
