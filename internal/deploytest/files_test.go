package deploytest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// composeOnly are the names .env.example and docker-compose.yml may use that twitchrelay itself
// does not read: Compose interpolates them into the compose file. Keep this list tiny; each
// one is documented in .env.example.
var composeOnly = map[string]string{
	"DOMAIN":  "the host name Caddy (profile proxy) obtains a certificate for",
	"VERSION": "the version stamped into the image and its tag by `docker compose build`",
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot is the module root: the nearest directory upwards with a go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = os.ErrNotExist
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatalf("finding the module root (a directory with go.mod) above the test: %v", rootErr)
	}
	return rootDir
}

// readRepoFile reads a file given relative to the module root.
func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("reading %s: %v", rel, err)
	}
	return string(b)
}
