package web_test

import (
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/leaktest"
)

// TestMain fails the package if any test leaves a goroutine behind. Every test here runs the
// whole app (internal/testing/apptest), so this checks that App.Serve stops and waits for
// all it started; leaktest ignores only scs's default-store goroutine (see there why).
func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m)
}
