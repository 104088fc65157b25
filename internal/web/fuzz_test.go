package web

import (
	"errors"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func FuzzDecodeClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"stream_connected","epoch":"3f9c0a6e1b2d4c58","last_seq":41}`,
		`{"type":"stream_connected"}`, `{"type":""}`, `{"last_seq":-1}`, `{"type":"x","last_seq":1e99}`,
		`not json`, ``, `[]`, `null`, `{"type":"stream_connected","last_seq":"7"}`,
	} {
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, frame string, text bool) {
		typ := websocket.MessageText
		if !text {
			typ = websocket.MessageBinary
		}
		m, err := decodeClientMessage(typ, []byte(frame))
		if err != nil {
			var bad errBadClientMessage
			if !errors.As(err, &bad) || bad.reason == "" {
				t.Fatalf("error %v is not a client-message error with a reason", err)
			}
			return
		}
		if !text || m.Type == "" {
			t.Fatalf("accepted %q (text %v) as %+v", frame, text, m)
		}
	})
}

func FuzzValidStreamerLogin(f *testing.F) {
	for _, seed := range []string{"pixelpaladin", "abc", "a_b_c_d", strings.Repeat("a", 25), strings.Repeat("a", 26), "no-dash", "ünï", "<script>", " spaced ", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := ValidStreamerLogin(s)
		want := len(s) >= 4 && len(s) <= 25
		for _, r := range s {
			want = want && (r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
		}
		if ok != want {
			t.Fatalf("ValidStreamerLogin(%q) = %v, want %v", s, ok, want)
		}
	})
}

func FuzzStreamerLogin(f *testing.F) {
	for _, seed := range []string{"pixelpaladin", "@PixelPaladin", "https://www.twitch.tv/pixelpaladin", "twitch.tv/a/b?c", "http://", "twitch.tv/", " @ ", "ünï"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		login := StreamerLogin(s)
		if ValidStreamerLogin(login) && login != strings.ToLower(login) {
			t.Fatalf("StreamerLogin(%q) = %q: not lower case", s, login)
		}
		if ValidStreamerLogin(s) && login != strings.ToLower(s) {
			t.Fatalf("StreamerLogin(%q) = %q, want the login itself in lower case", s, login)
		}
	})
}
