package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

// saver is a token store's write, failing while err is set.
type saver struct {
	mu    sync.Mutex
	err   error
	saved []auth.Token // successful writes
	tries int
	onTry func() // called before each write, if set
}

func (s *saver) save(_ context.Context, t auth.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.onTry != nil {
		s.onTry()
	}
	if s.err != nil {
		return s.err
	}
	s.saved = append(s.saved, t)
	return nil
}

func (s *saver) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err, s.tries = err, 0
}

var errDown = errors.New("store down")

// Twitch invalidates the old refresh token when it rotates it: a refreshed token the store
// could not take must not be handed out as if all was well, nor forgotten.
func TestUserTokenSourceKeepsUnsavedToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, tok, _ := userSource(t, e, "lurker_lou")
	st := &saver{err: errDown}
	src.SaveWith(st.save)

	src.Invalidate(tok.AccessToken)
	got, err := src.Token(ctx)
	if !errors.Is(err, auth.ErrNotSaved) || !errors.Is(err, errDown) || got != "" {
		t.Fatalf("Token with a failing store = %q, %v; want no token and ErrNotSaved wrapping the store's error", got, err)
	}
	if st.tries < 2 {
		t.Errorf("store write tried %d times, want a few retries", st.tries)
	}
	rotated := src.Current()
	if rotated.RefreshToken == tok.RefreshToken || rotated.AccessToken == tok.AccessToken {
		t.Fatal("the refreshed token was not kept in memory")
	}
	if _, err := e.client.Refresh(ctx, tok); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("old refresh token after rotation: err = %v, want ErrInvalidGrant (why saving matters)", err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "not saved") {
		t.Errorf("no Error log line about the unsaved token:\n%s", logs)
	}
	e.assertNotLogged(t, tok.AccessToken, tok.RefreshToken, rotated.AccessToken, rotated.RefreshToken)

	// Still failing: the next call tries to store the kept token again, without refreshing.
	refreshes := e.rt.count(tokenPath)
	if _, err := src.Token(ctx); !errors.Is(err, auth.ErrNotSaved) {
		t.Fatalf("second Token with a failing store: err = %v, want ErrNotSaved", err)
	}
	st.set(nil)
	got, err = src.Token(ctx)
	if err != nil || got != rotated.AccessToken {
		t.Fatalf("Token once the store is back = %q, %v; want the kept token", got, err)
	}
	if n := e.rt.count(tokenPath) - refreshes; n != 0 {
		t.Errorf("%d more refreshes while the token was unsaved, want 0 (it would rotate again)", n)
	}
	if len(st.saved) != 1 || st.saved[0].RefreshToken != rotated.RefreshToken {
		t.Fatalf("stored %d tokens, want the kept one once", len(st.saved))
	}
	if got, err := src.Token(ctx); err != nil || got != rotated.AccessToken || st.tries != 1 {
		t.Errorf("Token after saving = %q, %v (%d writes); want the token and no new write", got, err, st.tries)
	}
}

// The retries stay within the caller's deadline: once its context ends, Token gives up.
func TestUserTokenSourceSaveRetriesStopWithContext(t *testing.T) {
	e := newEnv(t)
	src, tok, _ := userSource(t, e, "lurker_lou")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &saver{err: errDown, onTry: cancel} // the request ends during the first write
	src.SaveWith(st.save)

	src.Invalidate(tok.AccessToken)
	if _, err := src.Token(ctx); !errors.Is(err, auth.ErrNotSaved) {
		t.Fatalf("err = %v, want ErrNotSaved", err)
	}
	if st.tries != 1 {
		t.Errorf("store write tried %d times after the context ended, want 1", st.tries)
	}
}
