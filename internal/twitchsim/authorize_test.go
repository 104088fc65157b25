package twitchsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func authorizeQuery(mod func(url.Values)) string {
	q := url.Values{"client_id": {DefaultClientID}, "redirect_uri": {testRedirect},
		"response_type": {"code"}, "scope": {"user:read:email moderator:read:followers"},
		"state": {"xyz"}, "force_verify": {"true"}}
	if mod != nil {
		mod(q)
	}
	return "/id/oauth2/authorize?" + q.Encode()
}

func TestAuthorizePage(t *testing.T) {
	e := newEnv(t, nil)
	r := e.get(authorizeQuery(nil))
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	wants := []string{
		"<title>Authorize twitchrelay", `<form method="post" action="/id/oauth2/authorize">`,
		`name="client_id" value="` + DefaultClientID + `"`, `name="redirect_uri" value="http://127.0.0.1:8080/auth"`,
		`name="response_type" value="code"`, `name="scope" value="user:read:email moderator:read:followers"`,
		`name="state" value="xyz"`, `name="force_verify" value="true"`,
		`type="radio" id="user-pixelpaladin" name="login" value="pixelpaladin"`, `<label class="user" for="user-h4x0r">`,
		`name="action" value="authorize"`, `name="action" value="cancel"`, `<img src="data:image/svg`,
	}
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %s", w)
		}
	}
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("page has %d h1, want 1", n)
	}
	// No external resources: the only URL is the redirect target (text and hidden field).
	if strings.Count(page, "http://") != strings.Count(page, testRedirect) || strings.Contains(page, "https://") {
		t.Error("page references an external resource")
	}
}

func TestAuthorizeBadRequestsGetErrorPageNotRedirect(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, want string
		mod        func(url.Values)
	}{
		{"unknown client", "invalid client", func(q url.Values) { q.Set("client_id", "other") }},
		{"missing client", "missing client_id", func(q url.Values) { q.Del("client_id") }},
		{"unregistered redirect", "does not match registered URI", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/auth") }},
		{"redirect prefix only", "does not match registered URI", func(q url.Values) { q.Set("redirect_uri", testRedirect+"/x") }},
		{"unknown scope", "invalid scope requested: &#39;x&#39;", func(q url.Values) { q.Set("scope", "chat:read x") }},
		{"implicit flow", "unsupported response_type", func(q url.Values) { q.Set("response_type", "token") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(authorizeQuery(tt.mod))
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Fatalf("status %d location %q, want a 400 page", r.status, r.header.Get("Location"))
			}
			if !strings.Contains(string(r.body), tt.want) {
				t.Fatalf("error page lacks %q:\n%s", tt.want, r.body)
			}
			// The POST is checked the same way (hidden fields can be tampered with).
			form, _ := url.ParseQuery(strings.SplitN(authorizeQuery(tt.mod), "?", 2)[1])
			form.Set("action", "authorize")
			form.Set("login", "pixelpaladin")
			if r := e.postForm("/id/oauth2/authorize", form); r.status != http.StatusBadRequest {
				t.Fatalf("POST: status %d, want 400", r.status)
			}
		})
	}
}

func TestAuthorizeCancel(t *testing.T) {
	e := newEnv(t, nil)
	loc := e.authorize("", "cancel")
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("error_description") != "The user denied you access" ||
		q.Get("state") != "st4te" || q.Has("code") {
		t.Fatalf("cancel redirect %s", loc)
	}
	if !strings.Contains(loc.RawQuery, "error_description=The+user+denied+you+access") {
		t.Fatalf("error_description not encoded as Twitch does: %s", loc.RawQuery)
	}
}

func TestAuthorizeWithoutUserOrAction(t *testing.T) {
	e := newEnv(t, nil)
	form, _ := url.ParseQuery(strings.SplitN(authorizeQuery(nil), "?", 2)[1])
	form.Set("action", "authorize")
	r := e.postForm("/id/oauth2/authorize", form)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Pick one of the users") {
		t.Fatalf("no login picked: %d", r.status)
	}
	form.Set("login", "nosuchuser")
	if r := e.postForm("/id/oauth2/authorize", form); r.status != http.StatusBadRequest {
		t.Fatalf("unknown login: %d", r.status)
	}
	form.Set("login", "pixelpaladin")
	form.Set("action", "maybe")
	if r := e.postForm("/id/oauth2/authorize", form); r.status != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", r.status)
	}
}

func TestSetRedirectURIs(t *testing.T) {
	e := newEnv(t, nil)
	e.sim.SetRedirectURIs("http://127.0.0.1:9999/auth")
	if r := e.get(authorizeQuery(nil)); r.status != http.StatusBadRequest {
		t.Fatalf("old redirect URI still accepted: %d", r.status)
	}
	if r := e.get(authorizeQuery(func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/auth") })); r.status != http.StatusOK {
		t.Fatalf("new redirect URI rejected: %d", r.status)
	}
}

// The XSS user's description never reaches the page unescaped.
func TestAuthorizePageEscapes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.get(authorizeQuery(func(q url.Values) { q.Set("state", `"><script>alert(3)</script>`) }))
	if strings.Contains(string(r.body), "<script>") {
		t.Fatal("state reflected unescaped")
	}
}
