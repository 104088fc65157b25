package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/auth"
)

func TestValidate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, err := e.client.Exchange(ctx, e.login(t, "pixelpaladin"))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}

	tests := []struct {
		name  string
		token func() string
		want  error
		login string
	}{
		{"valid", func() string { return tok.AccessToken }, nil, "pixelpaladin"},
		{"unknown", func() string { return "notatoken" }, auth.ErrInvalidToken, ""},
		{"empty", func() string { return "" }, auth.ErrInvalidToken, ""},
		{"expired", func() string {
			e.clock.Advance(5 * time.Hour) // user tokens live about 4 hours
			return tok.AccessToken
		}, auth.ErrInvalidToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.client.Validate(ctx, tt.token())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if v.Login != tt.login {
				t.Errorf("login = %q, want %q", v.Login, tt.login)
			}
		})
	}
	e.assertNotLogged(t, tok.AccessToken, tok.RefreshToken)
}

func TestValidateAppToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	app, err := e.client.AppTokenSource().Token(ctx)
	if err != nil {
		t.Fatalf("app token: %v", err)
	}
	v, err := e.client.Validate(ctx, app)
	if err != nil {
		t.Fatalf("Validate(app token): %v", err)
	}
	if v.Login != "" || v.UserID != "" || v.ClientID != e.sim.ClientID() {
		t.Errorf("Validate(app token) = %+v, want no user and our client id", v)
	}
}
