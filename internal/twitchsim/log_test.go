package twitchsim

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/twitchrelay/twitchrelay/internal/testing/syncbuf"
)

// The simulator names itself in its logs: every line carries component=twitchsim exactly once,
// so a caller passes its own logger as it is (the demo once added the attribute a second time).
func TestLogLinesNameTheComponentOnce(t *testing.T) {
	var logs syncbuf.Buffer
	parent := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("service", "twitchrelay")
	e := newEnv(t, func(c *Config) { c.Logger = parent })

	if _, err := e.sim.Follow(context.Background(), "quietquinn", "pixelpaladin"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("the simulator logged nothing")
	}
	for _, line := range lines {
		if n := strings.Count(line, `"component":`); n != 1 || !strings.Contains(line, `"component":"twitchsim"`) {
			t.Errorf("log line has the component attribute %d times, want component=twitchsim once:\n%s", n, line)
		}
	}
}
