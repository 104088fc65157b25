// Package leaktest is go.uber.org/goleak as twitchrelay's tests use it: every goroutine
// the service starts must be stopped and waited for by the time a test ends, with one
// exception, which is not ours to stop.
package leaktest

import (
	"testing"

	"go.uber.org/goleak"
)

// scsDefaultStore is the cleanup goroutine of the session store that scs.New installs by
// default (memstore.New). The app replaces that store at once, with Redis or its own
// in-memory store whose sweep it owns, but the goroutine has already started and nothing can
// stop it: in scs v2.9.0, MemStore.StopCleanup reads a channel that the goroutine itself
// assigns, so calling it is a data race under -race, and a no-op if the goroutine has not run
// yet (fixed upstream in alexedwards/scs#250, not in a release). It is one idle ticker per
// scs.New, and the app makes no other memstore, so ignoring the function ignores only these.
var scsDefaultStore = goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup")

// Options are goleak's options for twitchrelay, plus extra.
func Options(extra ...goleak.Option) []goleak.Option {
	return append([]goleak.Option{scsDefaultStore}, extra...)
}

// VerifyTestMain runs the tests, then fails if any goroutine was left behind.
func VerifyTestMain(m *testing.M, extra ...goleak.Option) {
	goleak.VerifyTestMain(m, Options(extra...)...)
}

// VerifyNone fails t if a goroutine is left behind now; goleak retries for a while, so
// goroutines that are on their way out are given the time to finish.
func VerifyNone(t testing.TB, extra ...goleak.Option) {
	t.Helper()
	goleak.VerifyNone(t, Options(extra...)...)
}
