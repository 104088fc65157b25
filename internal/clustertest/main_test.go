// Package clustertest runs several real relay processes behind a round-robin balancer,
// sharing one Redis and one simulated Twitch (cmd/twitchsim), and holds them to the promise
// of every event once, in order, through kills, restarts and Redis trouble.
package clustertest

import (
	"fmt"
	"os"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/cluster"
)

// bin are the commands, built once for the package's tests.
var bin cluster.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clustertest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = cluster.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
