package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

func sequenced(seqs ...uint64) []Sequenced {
	out := make([]Sequenced, len(seqs))
	for i, s := range seqs {
		out[i] = Sequenced{Seq: s, Type: "event_updated", Time: time.Unix(0, 1), Event: json.RawMessage(fmt.Sprintf(`{"n":%d}`, s))}
	}
	return out
}

// TestApply: events numbered elsewhere enter the hub once, in their epoch; a session the hub
// does not hold is left alone unless asked; a jump in seq and a new epoch are told to the
// subscribers as a history_gap, and a resume in the epoch gets what the history holds.
func TestApply(t *testing.T) {
	h := newHub(Config{})
	defer h.Close()

	h.Apply("nobody", "E1", sequenced(1), false)
	if _, _, ok := h.Last("nobody"); ok {
		t.Fatal("Apply without create made a session the hub did not hold")
	}

	h.Apply("s", "E1", sequenced(1, 2, 3), true)
	sub := subscribe(t, h, "s", Resume{Epoch: "E1", AfterSeq: 1})
	if got := summary(nextN(t, sub, 2)); !slices.Equal(got, []string{"2", "3"}) {
		t.Fatalf("resume after 1 in E1: %v, want [2 3]", got)
	}
	if sub.Epoch() != "E1" {
		t.Fatalf("subscriber epoch %q, want E1", sub.Epoch())
	}

	h.Apply("s", "E1", sequenced(2, 3, 4), false) // 2 and 3 again: duplicates
	h.Apply("s", "E1", sequenced(7), false)       // 5 and 6 are gone
	h.Apply("s", "E2", sequenced(1), false)       // Redis lost the numbering
	got := nextN(t, sub, 5)
	if s := summary(got); !slices.Equal(s, []string{"4", "gap(4>7)", "7", "gap(7>1)", "1"}) {
		t.Fatalf("live frames %v, want [4 gap(4>7) 7 gap(7>1) 1]", s)
	}
	if got[4].Epoch != "E2" || got[3].Epoch != "E2" {
		t.Fatalf("after the epoch change frames are in %q and %q, want E2", got[3].Epoch, got[4].Epoch)
	}
	expectEmpty(t, sub)

	// A page that saw 7 in E1 resumes: the session started over, so it is told so.
	late := subscribe(t, h, "s", Resume{Epoch: "E1", AfterSeq: 7})
	if s := summary(nextN(t, late, 1)); !slices.Equal(s, []string{"1"}) {
		t.Fatalf("resume from another epoch: %v, want the whole history [1]", s)
	}
	if ep, seq, _ := h.Last("s"); ep != "E2" || seq != 1 {
		t.Fatalf("Last = %s %d, want E2 1", ep, seq)
	}
}
