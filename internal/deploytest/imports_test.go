package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/twitchrelay/twitchrelay/"

// The import lists in README.md and docs/ARCHITECTURE.md (between <!-- imports:begin --> and
// <!-- imports:end -->) are the real imports between our packages, as `go list` sees them:
// a diagram that drifts from the code is a diagram nobody can trust.
func TestDocumentedImportsAreReal(t *testing.T) {
	root := repoRoot(t)
	for _, doc := range []string{"README.md", "docs/ARCHITECTURE.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(b), "<!-- imports:begin -->")
		block, _, ok2 := strings.Cut(rest, "<!-- imports:end -->")
		if !ok || !ok2 {
			t.Fatalf("%s has no imports block", doc)
		}
		n := 0
		for line := range strings.Lines(block) {
			from, to, ok := strings.Cut(line, "→")
			if !ok {
				continue
			}
			n++
			pkg := strings.TrimSpace(from)
			want := strings.Fields(to)
			cmd := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "./"+pkg)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", pkg, err)
			}
			var got []string
			for imp := range strings.Lines(string(out)) {
				if p, ok := strings.CutPrefix(strings.TrimSpace(imp), module+"internal/"); ok {
					got = append(got, p)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s says %s imports %v; go list says %v", doc, pkg, want, got)
			}
		}
		if n < 5 {
			t.Errorf("%s: only %d import lines", doc, n)
		}
	}
}

// The relay is the subscription state machine: it knows no HTTP (the web layer's callback
// handler is the transport).
func TestRelayKnowsNoHTTP(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "./internal/relay")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for imp := range strings.Lines(string(out)) {
		if strings.HasPrefix(strings.TrimSpace(imp), "net/http") {
			t.Errorf("internal/relay imports %s", strings.TrimSpace(imp))
		}
	}
}
