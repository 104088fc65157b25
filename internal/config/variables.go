package config

import (
	"slices"
	"strings"
)

// Required are the variables a real deployment must set (each secret may come as NAME_FILE).
var Required = []string{"PUBLIC_URL", "TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "SERVER_SECRET"}

// Variables returns the name of every environment variable Load reads, sorted. It is
// recorded from Load itself, so it cannot drift from the code.
func Variables() []string {
	seen := map[string]bool{}
	_, _ = Load(func(name string) string { seen[name] = true; return "" })
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// IsSecret reports whether a variable holds a secret (and so also has a NAME_FILE form).
func IsSecret(name string) bool {
	name = strings.TrimSuffix(name, "_FILE")
	return name == "TWITCH_CLIENT_SECRET" || name == "SERVER_SECRET" || name == "REDIS_URL"
}
