// Command twitchrelay relays a Twitch streamer's EventSub events live to the browser.
// Run it with -demo to try it on localhost against the built-in Twitch simulator.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "twitchrelay:", err)
		os.Exit(1)
	}
}
