// Package web holds twitchrelay's templates and static files, embedded in the binary.
package web

import "embed"

// Files holds templates/ and static/.
//
//go:embed templates static
var Files embed.FS
