package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/twitchrelay/twitchrelay/web"
)

// pages are the templates rendered inside layout.html.
var pages = []string{"landing", "enter_streamer", "stream", "error"}

func parseTemplates(a *assets) (map[string]*template.Template, error) {
	funcs := template.FuncMap{"asset": a.url, "imgsrc": imageSrc, "feedword": feedWord, "feedsummary": feedSummary, "feedwordsjson": feedWordsJSON,
		"words": func(ss []string) string { return strings.Join(ss, " ") }}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(web.Files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	out := make(map[string]*template.Template, len(pages))
	for _, p := range pages {
		t, err := template.Must(layout.Clone()).ParseFS(web.Files, "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", p, err)
		}
		out[p] = t
	}
	return out, nil
}

// render writes a page with status 200.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data any) error {
	return s.renderStatus(w, r, http.StatusOK, page, data)
}

// renderStatus renders into a buffer first: a template error becomes a clean 500, never half a page.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data any) error {
	var buf bytes.Buffer
	if err := s.templates[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// assets serves web/static with a content hash in the URL and long-lived caching.
type assets struct {
	files  map[string][]byte // name → content
	hashes map[string]string // name → short content hash
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string][]byte{}, hashes: map[string]string{}}
	err := fs.WalkDir(web.Files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Files, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(b)
		a.files[name], a.hashes[name] = b, hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load assets: %w", err)
	}
	return a, nil
}

// url is the template function "asset": the file's URL with its hash.
func (a *assets) url(name string) (string, error) {
	h, ok := a.hashes[name]
	if !ok {
		return "", fmt.Errorf("web: no asset %q", name)
	}
	return "/static/" + name + "?v=" + h, nil
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "*")
	b, ok := a.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".js" {
		ctype = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	if r.URL.Query().Get("v") == a.hashes[name] {
		w.Header().Set("Cache-Control", staticCacheImmutable)
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+a.hashes[name]+`"`)
	if r.Header.Get("If-None-Match") == `"`+a.hashes[name]+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(b)
}

// imageSrc lets Twitch's profile images through html/template's URL filter: https URLs, and
// the data: images the simulator serves (an <img> never runs script, SVG included). Anything
// else becomes a blank image.
func imageSrc(u string) template.URL {
	switch {
	case strings.HasPrefix(u, "https://"),
		strings.HasPrefix(u, "data:image/svg+xml"), strings.HasPrefix(u, "data:image/png"),
		strings.HasPrefix(u, "data:image/jpeg"), strings.HasPrefix(u, "data:image/webp"):
		return template.URL(u)
	}
	return "data:,"
}
