package webhook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	msgTime := testNow
	tests := []struct {
		typ, event  string
		wantSummary string
		wantActor   Actor
		wantTime    time.Time
		wantTitle   string
		wantCat     string
	}{
		{"channel.follow",
			`{"user_id":"1234","user_login":"alice","user_name":"Alice","broadcaster_user_id":"1","followed_at":"2020-07-15T18:16:11.17106713Z"}`,
			"Alice followed", Actor{"1234", "alice", "Alice"}, time.Date(2020, 7, 15, 18, 16, 11, 171067130, time.UTC), "", ""},
		{"stream.online",
			`{"id":"9","broadcaster_user_id":"1","broadcaster_user_login":"bob","broadcaster_user_name":"Bob","type":"live","started_at":"2026-03-01T11:59:00Z","title":"Speedrun"}`,
			"Went live: Speedrun", Actor{"1", "bob", "Bob"}, time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC), "Speedrun", ""},
		{"stream.online",
			`{"broadcaster_user_id":"1","broadcaster_user_login":"bob","broadcaster_user_name":"Bob","type":"live"}`,
			"Went live", Actor{"1", "bob", "Bob"}, msgTime, "", ""},
		{"stream.offline",
			`{"broadcaster_user_id":"1","broadcaster_user_login":"bob","broadcaster_user_name":"Bob"}`,
			"Stream ended", Actor{"1", "bob", "Bob"}, msgTime, "", ""},
		{"channel.update",
			`{"broadcaster_user_id":"1","broadcaster_user_login":"bob","broadcaster_user_name":"Bob","title":"New\ntitle <b>","category_name":"Chess"}`,
			"Title changed to New title <b> · category Chess", Actor{"1", "bob", "Bob"}, msgTime, "New title <b>", "Chess"},
		{"user.update",
			`{"user_id":"1","user_login":"bob","user_name":"Bob","email":"bob@example.com","email_verified":true,"description":"hi"}`,
			"Profile updated", Actor{"1", "bob", "Bob"}, msgTime, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.wantSummary, func(t *testing.T) {
			msg := &Message{ID: "m1", SubscriptionType: tt.typ, Timestamp: msgTime, Event: json.RawMessage(tt.event)}
			ev, err := Normalize(msg)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if ev.ID != "m1" || ev.Type != tt.typ {
				t.Errorf("id/type = %q/%q, want m1/%s", ev.ID, ev.Type, tt.typ)
			}
			if ev.Summary != tt.wantSummary {
				t.Errorf("Summary = %q, want %q", ev.Summary, tt.wantSummary)
			}
			if ev.Actor != tt.wantActor {
				t.Errorf("Actor = %+v, want %+v", ev.Actor, tt.wantActor)
			}
			if !ev.Time.Equal(tt.wantTime) {
				t.Errorf("Time = %v, want %v", ev.Time, tt.wantTime)
			}
			if ev.Title != tt.wantTitle || ev.Category != tt.wantCat {
				t.Errorf("Title/Category = %q/%q, want %q/%q", ev.Title, ev.Category, tt.wantTitle, tt.wantCat)
			}
			if strings.Contains(string(ev.Raw), "email") {
				t.Errorf("Raw = %s: an email must never reach the browser", ev.Raw)
			}
			if !json.Valid(ev.Raw) {
				t.Errorf("Raw = %s is not JSON", ev.Raw)
			}
		})
	}
}

func TestNormalizeUnknownType(t *testing.T) {
	msg := &Message{ID: "m1", SubscriptionType: "channel.cheer", Timestamp: testNow, Event: json.RawMessage(`{"bits":3}`)}
	ev, err := Normalize(msg)
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("err = %v, want ErrUnknownType", err)
	}
	if ev.Summary != "channel.cheer event" || ev.Type != "channel.cheer" || string(ev.Raw) != `{"bits":3}` {
		t.Fatalf("generic event = %+v", ev)
	}
}

func TestNormalizeMalformedEvent(t *testing.T) {
	msg := &Message{ID: "m1", SubscriptionType: "channel.follow", Event: json.RawMessage(`[1,2]`)}
	if _, err := Normalize(msg); !errors.Is(err, ErrMalformedBody) {
		t.Fatalf("err = %v, want ErrMalformedBody", err)
	}
}

func TestEventJSON(t *testing.T) {
	ev := Event{ID: "m", Type: "stream.offline", Time: testNow, Summary: "Stream ended", Actor: Actor{ID: "1", Login: "b", Name: "B"}, Raw: json.RawMessage(`{}`)}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"m","type":"stream.offline","time":"2026-03-01T12:00:00Z","summary":"Stream ended","actor":{"id":"1","login":"b","name":"B"},"raw":{}}`
	if string(b) != want {
		t.Fatalf("JSON =\n%s\nwant\n%s", b, want)
	}
}
