package web_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/twitchrelay/twitchrelay/internal/auth"
	"github.com/twitchrelay/twitchrelay/internal/helix"
	"github.com/twitchrelay/twitchrelay/internal/hub"
	"github.com/twitchrelay/twitchrelay/internal/relay"
	"github.com/twitchrelay/twitchrelay/internal/store"
	"github.com/twitchrelay/twitchrelay/internal/testing/apptest"
	"github.com/twitchrelay/twitchrelay/internal/testing/client"
	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
	"github.com/twitchrelay/twitchrelay/internal/web"
	"github.com/twitchrelay/twitchrelay/internal/webhook"
)

// relayWith is twitchrelay wired as internal/app wires it, in memory, but with the given token
// store and options changed by mod (if not nil), against the simulator on loopback HTTP.
type relayWith struct {
	URL   string
	Sim   *twitchsim.Sim
	Clock *apptest.Clock
	Logs  *apptest.SyncBuffer
	Auth  *auth.Client // the relay's own client of id.twitch.tv
	addr  string
}

func startRelayWith(t *testing.T, tokens web.TokenStore, mod func(*web.Options, *twitchsim.Sim)) *relayWith {
	t.Helper()
	rw := &relayWith{Clock: &apptest.Clock{}, Logs: &apptest.SyncBuffer{}}
	rw.Sim = twitchsim.New(twitchsim.Config{
		ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret, AllowInsecureCallbacks: true,
		RetryBackoff: time.Millisecond, Now: rw.Clock.Now,
	})
	simSrv := httptest.NewServer(rw.Sim)
	t.Cleanup(func() { rw.Sim.Close(); simSrv.Close() })

	srv := httptest.NewUnstartedServer(nil)
	rw.addr = srv.Listener.Addr().String()
	rw.URL = "http://" + rw.addr
	public, _ := url.Parse(rw.URL)
	rw.Sim.SetRedirectURIs(rw.URL + "/auth")
	log := slog.New(slog.NewJSONHandler(rw.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	sessions := scs.New()
	sessions.Store = memstore.New()
	sessions.Cookie.Name = "twitchrelay_session"
	rw.Auth = auth.New(auth.Config{
		ClientID: apptest.ClientID, ClientSecret: apptest.ClientSecret, RedirectURL: rw.URL + "/auth",
		OAuthBaseURL: simSrv.URL + "/id/oauth2", Logger: log,
	})
	helixClient := helix.New(helix.Config{
		BaseURL: simSrv.URL + "/helix", ClientID: apptest.ClientID, AppToken: rw.Auth.AppTokenSource(), Logger: log,
	})
	h := hub.New(hub.Config{})
	rel := relay.NewManager(relay.Config{
		PublicURL: public, ServerSecret: []byte(apptest.ServerSecret), Helix: helixClient,
		Hub: h, Store: store.NewMemoryRelay(), Lease: time.Hour, PollInterval: time.Minute, Logger: log,
	})
	t.Cleanup(func() { _ = rel.Shutdown(context.Background(), false) })
	opt := web.Options{
		Logger: log, PublicURL: public, Sessions: sessions, Tokens: tokens,
		Auth: rw.Auth, Helix: helixClient, Relay: rel, Hub: h,
		Webhooks: &webhook.Verifier{ServerSecret: []byte(apptest.ServerSecret),
			Dedupe: store.NewMemoryDedupe(store.MemoryDedupeConfig{TTL: webhook.DedupeTTL})},
	}
	if mod != nil {
		mod(&opt, rw.Sim)
	}
	ws, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = ws.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return rw
}

func (rw *relayWith) newBrowser() *client.Browser { return client.NewBrowser(rw.URL, rw.addr) }
