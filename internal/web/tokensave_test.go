package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/app"
	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
)

// flakyTokens is a token store whose writes fail while broken is set, as Redis does when it
// is unreachable; it remembers every token it was asked to write.
type flakyTokens struct {
	*store.MemoryTokens
	mu     sync.Mutex
	broken bool
	puts   []auth.Token
}

var errStoreDown = errors.New("tokenstore: put: dial tcp 127.0.0.1:6379: connection refused")

func (s *flakyTokens) Put(ctx context.Context, sid string, t auth.Token) error {
	s.mu.Lock()
	s.puts = append(s.puts, t)
	broken := s.broken
	s.mu.Unlock()
	if broken {
		return errStoreDown
	}
	return s.MemoryTokens.Put(ctx, sid, t)
}

func (s *flakyTokens) setBroken(b bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = b
}

func (s *flakyTokens) attempted() []auth.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]auth.Token(nil), s.puts...)
}

// Twitch rotates the refresh token on every refresh and invalidates the old one, so a refreshed
// token that is not stored logs the user out at the next restart. The request that refreshed
// answers 503 saying so (and the failure is logged, without the token); the new token stays in
// memory, and the next request stores it.
func TestRefreshedTokenNotStoredFailsTheRequest(t *testing.T) {
	store := &flakyTokens{MemoryTokens: store.NewMemoryTokens(time.Hour, nil)}
	h := apptest.Start(t, apptest.Options{App: app.Options{Tokens: store}})
	b := h.NewBrowser()
	if err := b.Login("lurker_lou"); err != nil {
		t.Fatal(err)
	}
	loginPuts := len(store.attempted())

	store.setBroken(true)
	h.Clock.Advance(5 * time.Hour) // user tokens live about 4 hours: Helix answers 401, we refresh
	status, body, err := b.ChooseStreamer("pixelpaladin")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "can&#39;t save your login") {
		t.Fatalf("choose streamer while the token store fails = %d, want 503 saying the login can't be saved:\n%.600s", status, body)
	}
	tries := store.attempted()[loginPuts:]
	if len(tries) < 2 {
		t.Errorf("the refreshed token was written %d times, want a few attempts", len(tries))
	}
	rotated := tries[len(tries)-1]
	logs := h.Logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "not saved") {
		t.Errorf("no Error log line about the unsaved token:\n%s", logs)
	}
	for _, secret := range []string{rotated.AccessToken, rotated.RefreshToken} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("a token (%.4s…) appears in the logs", secret)
		}
	}

	store.setBroken(false)
	status, body, err = b.ChooseStreamer("pixelpaladin")
	if err != nil || status != http.StatusOK || !strings.Contains(body, "PixelPaladin") {
		t.Fatalf("choose streamer once the store is back = %d, %v:\n%.600s", status, err, body)
	}
	all := store.attempted()
	stored := all[len(all)-1]
	if stored.RefreshToken != rotated.RefreshToken {
		t.Errorf("stored refresh token %.6s…, want the rotated one kept in memory (%.6s…)", stored.RefreshToken, rotated.RefreshToken)
	}
	// What a restart would load still works at Twitch (the old refresh token no longer does).
	twitch := auth.New(auth.Config{ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret,
		RedirectURL: h.URL + "/auth", OAuthBaseURL: h.SimURL + "/id/oauth2"})
	if _, err := twitch.Refresh(t.Context(), stored); err != nil {
		t.Errorf("the stored token cannot be refreshed (a restart would log the user out): %v", err)
	}
}
