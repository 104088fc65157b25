// Command twitchsim serves the Twitch simulator (internal/twitchsim) on its own, so several
// relay processes can share one simulated Twitch: OAuth under /id/oauth2, Helix under /helix,
// its controls under /sim (loopback only). The relay's -demo keeps its built-in one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "twitchsim:", err)
		os.Exit(1)
	}
}
