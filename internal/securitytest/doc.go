// Package securitytest is twitchrelay's security and reliability matrix (issue 8): attacks and
// faults, each a test over real HTTP and WebSockets against the real app (internal/app) and the
// Twitch simulator, through internal/testing/apptest. docs/SECURITY.md lists every threat or fault, the
// test that proves it and what was observed. The package has no code of its own: only tests,
// their helpers and fuzz seed corpora.
package securitytest
