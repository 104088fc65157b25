package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/twitchsim"
)

// Timeouts of the simulator's own HTTP server.
const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 5 * time.Second
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// run parses the flags, listens, prints "twitchsim listening on http://ADDR" on stdout (the
// line a test or script waits for) and serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twitchsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback; port 0 picks a free one)")
	clientID := fs.String("client-id", "", "the registered application's client id (default: twitchsim's own)")
	clientSecret := fs.String("client-secret", "", "its client secret (default: twitchsim's own)")
	var redirects listFlag
	fs.Var(&redirects, "redirect-uri", "a registered OAuth redirect URI, exact match (repeatable)")
	insecure := fs.Bool("allow-insecure-callbacks", true, "accept http:// and any port for loopback EventSub callbacks (Twitch itself demands https on 443)")
	retries := fs.Int("retries", 0, "notification retries after a failed delivery (0 = Twitch-like 3, negative = none)")
	backoff := fs.Duration("retry-backoff", 0, "wait before each retry (0 = 100ms)")
	maxFailures := fs.Int("max-failures", 0, "failed notifications in a row before a subscription is revoked (0 = 3)")
	timeout := fs.Duration("delivery-timeout", 0, "bound of one POST to a callback (0 = 10s)")
	activity := fs.Duration("activity", 0, "generate plausible events this often (0 = none)")
	seed := fs.Uint64("seed", 0, "seed of the activity generator (0 = random)")
	fresh := fs.Bool("fresh-connections", false, "open a new connection for every delivery (no keep-alive), so a TCP balancer in front of several relays spreads them")
	verbose := fs.Bool("v", false, "log at debug level")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: twitchsim [flags]\n\nA simulated Twitch (OAuth, Helix, EventSub webhooks) for tests and local clusters.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	var deliveries *http.Client
	if *fresh {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		deliveries = &http.Client{Transport: tr}
	}
	sim := twitchsim.New(twitchsim.Config{
		HTTPClient: deliveries,
		ClientID:   *clientID, ClientSecret: *clientSecret,
		RedirectURIs:            redirects,
		AllowInsecureCallbacks:  *insecure,
		DeliveryRetries:         *retries,
		RetryBackoff:            *backoff,
		MaxNotificationFailures: *maxFailures,
		DeliveryTimeout:         *timeout,
		Seed:                    *seed,
		Logger:                  log,
	})
	defer sim.Close()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stdout, "twitchsim listening on http://%s\n", ln.Addr())
	if *activity > 0 {
		sim.StartActivity(ctx, *activity)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	return err
}
