package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// AppendJSON writes what encoding/json writes for an Event: the same bytes when Raw has
// nothing encoding/json would escape or compact, and the same JSON value always.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tricky := []string{"", "plain", `quote " and \ backslash`, "new\nline\r\ttab", "<b>&amp;</b>", "\x00\x01\x1f\x7f",
		"ünï ✓ 😀", "bad \xff utf-8 \xc3", "line\u2028sep\u2029", "ends with \\"}
	raws := []string{``, `{"user_id":"1","title":"a"}`, `{"t":"<script>&"}`, "{\n  \"user_id\": \"1\"\n}", `[1,2]`, `not json`}
	at := time.Date(2026, 11, 27, 10, 11, 12, 500000000, time.UTC)
	for i, s := range tricky {
		for _, raw := range raws {
			ev := Event{ID: s, Type: "channel.update", Time: at, Summary: s, Actor: Actor{ID: "1", Login: s, Name: s},
				Title: s, Category: s, Raw: json.RawMessage(raw)}
			if i%2 == 1 {
				ev.Title, ev.Category = "", "" // omitempty
			}
			if raw == `not json` { // never the case (Verify parsed the body): dropped, as encoding/json would fail
				ev.Raw = nil
			}
			want, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			got := ev.AppendJSON(nil)
			if !json.Valid(got) || bytes.ContainsAny(got, "\n\r") {
				t.Fatalf("%q / %q: not one line of valid JSON: %s", s, raw, got)
			}
			var gv, wv any
			_ = json.Unmarshal(got, &gv)
			_ = json.Unmarshal(want, &wv)
			if !reflect.DeepEqual(gv, wv) {
				t.Errorf("%q / %q:\n got %s\nwant %s", s, raw, got, want)
			}
			if !bytes.ContainsAny(ev.Raw, "<>&\n") && !bytes.Equal(got, want) {
				t.Errorf("%q / %q: bytes differ:\n got %s\nwant %s", s, raw, got, want)
			}
		}
	}
}

func BenchmarkEventJSON(b *testing.B) {
	ev := Event{ID: "b3c1e0a4-5f7d-4c2b-9a8e-1d2c3b4a5f6e", Type: "channel.update", Time: time.Now().UTC(),
		Summary: "Title changed to Speedrunning all day · category Just Chatting", Actor: Actor{ID: "100001", Login: "pixelpaladin", Name: "PixelPaladin"},
		Title: "Speedrunning all day", Category: "Just Chatting",
		Raw: json.RawMessage(`{"broadcaster_user_id":"100001","broadcaster_user_login":"pixelpaladin","broadcaster_user_name":"PixelPaladin","title":"Speedrunning all day","language":"en","category_id":"509658","category_name":"Just Chatting","content_classification_labels":[]}`)}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(ev)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ev.AppendJSON(nil)
		}
	})
}
