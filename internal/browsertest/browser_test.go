// Package browsertest drives the real twitchrelay (internal/testing/apptest: the app plus the Twitch
// simulator on loopback) with Debian's headless Chromium through chromedp: the whole user
// journey, accessibility basics, XSS and CSP, and the screenshots under docs/screenshots.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const (
	// testTimeout bounds one browser test from Chromium's start to its end.
	testTimeout = 60 * time.Second
	// waitTimeout bounds one wait on page state (a DOM condition).
	waitTimeout = 10 * time.Second
	desktopW    = 1280
	desktopH    = 860
	noChromium  = "install Debian's chromium (apt-get install -y chromium) to run the browser tests"
)

// chromiumPath finds Debian's Chromium; without it the test skips locally and fails in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal(noChromium + " (CI is set: browser tests must not be skipped)")
	}
	t.Skip(noChromium)
	return ""
}

// tab is one headless Chromium with one page, plus what the page logged.
type tab struct {
	t     *testing.T
	ctx   context.Context
	start time.Time
	last  time.Time

	mu        sync.Mutex
	console   []chromedp.ConsoleMessage
	documents []string // URLs of the documents the page requested, redirects included
}

// newTab starts a fresh Chromium (own profile, off the network) with a 1280×860 viewport.
// It stops at test cleanup.
func newTab(t *testing.T) *tab {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), testTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	tb := &tab{t: t, ctx: bctx, start: time.Now()}
	tb.last = tb.start
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	tb.do("start Chromium", chromedp.EmulateViewport(desktopW, desktopH))
	tb.colorScheme("dark") // the default theme; headless Chromium would pick light
	tb.collectConsole()
	tb.collectDocuments()
	tb.standInPlayer()
	tb.step("Chromium started")
	return tb
}

// colorScheme makes the page see prefers-color-scheme: scheme ("dark" or "light"), as a
// system setting would.
func (tb *tab) colorScheme(scheme string) {
	tb.t.Helper()
	_, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	mustf(tb.t, err, "emulate prefers-color-scheme: %s", scheme)
}

// step logs how long the journey took so far and since the previous step.
func (tb *tab) step(what string) {
	tb.t.Helper()
	now := time.Now()
	tb.t.Logf("%-52s +%5dms  (total %v)", what, now.Sub(tb.last).Milliseconds(), now.Sub(tb.start).Round(time.Millisecond))
	tb.last = now
}

// do runs actions and fails the test with what was being done.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](tb *tab, what, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("%s: evaluate: %v", what, err)
	}
	return v
}

// waitJS waits, without fixed sleeps, until a JavaScript predicate holds on the page.
func (tb *tab) waitJS(what, predicate string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		tb.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, predicate, err, tb.bodyText())
	}
}

// bodyText is the page's visible text, for failure messages.
func (tb *tab) bodyText() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// collectConsole keeps every console message and uncaught exception of the page.
func (tb *tab) collectConsole() {
	msgs := chromedp.Console(tb.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
}

// collectDocuments records every document request from now on, so a test can see
// redirects happen.
func (tb *tab) collectDocuments() {
	tb.t.Helper()
	events := chromedp.Events(tb.ctx, network.RequestWillBeSent)
	_, err := chromedp.Call(tb.ctx, network.Enable, network.EnableParams{})
	mustf(tb.t, err, "enable network events")
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if ev.Type == network.ResourceTypeDocument && ev.Request != nil {
				tb.mu.Lock()
				tb.documents = append(tb.documents, ev.Request.Method+" "+ev.Request.URL)
				tb.mu.Unlock()
			}
		}
	}()
}

// visited reports whether the page requested a document whose "METHOD URL" has prefix.
func (tb *tab) visited(prefix string) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, d := range tb.documents {
		if strings.HasPrefix(d, prefix) {
			return true
		}
	}
	return false
}

// documentList is every document request so far, as "METHOD URL".
func (tb *tab) documentList() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.documents...)
}

// exceptions returns the page's uncaught exceptions so far.
func (tb *tab) exceptions() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.console {
		if m.IsException() {
			out = append(out, m.String())
		}
	}
	return out
}

// standInPlayer answers the stream page's Twitch player iframe (https://player.twitch.tv)
// with a small local page: the test runs off the network, and a failed iframe would show
// Chromium's error page in the screenshots and could slow the page's load event.
func (tb *tab) standInPlayer() {
	tb.t.Helper()
	events := chromedp.Events(tb.ctx, fetch.RequestPaused)
	_, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: "https://player.twitch.tv/*"}},
	})
	mustf(tb.t, err, "intercept the Twitch player")
	body := []byte(`<!doctype html><html><head><meta name="viewport" content="width=device-width"></head>` +
		`<body style="margin:0;padding:1rem;height:100vh;box-sizing:border-box;display:grid;place-items:center;` +
		`text-align:center;background:#0e0e10;color:#adadb8;font:15px system-ui,sans-serif">` +
		`<p>Twitch player (stand-in: the browser test runs without internet)</p></body></html>`)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tb.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: 200, Body: body,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
			})
		}
	}()
}

// screenshotDir is where screenshots go: $SCREENSHOT_DIR (created), or a temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot dir: %v", err)
	}
	return dir
}

// screenshot saves the viewport (or the full page) as dir/name once animations have ended.
func (tb *tab) screenshot(dir, name string, fullPage bool) {
	tb.t.Helper()
	tb.waitFrame("animations to end before "+name, `document.getAnimations().every(a => a.playState !== "running")`)
	shot := chromedp.CaptureScreenshot()
	if fullPage {
		shot = chromedp.FullScreenshot(100) // 100: PNG
	}
	png, err := chromedp.Run(tb.ctx, shot)
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	tb.t.Logf("screenshot %s (%d KiB)", p, len(png)/1024)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\u003c`, "\u2028", `\u2028`, "\u2029", `\u2029`)
	return `"` + r.Replace(s) + `"`
}

// mustf formats a failure for a step.
func mustf(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
