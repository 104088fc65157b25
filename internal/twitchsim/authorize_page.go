package twitchsim

import (
	"bytes"
	"html/template"
	"net/http"
)

// scopeText explains the scopes twitchrelay asks for; others are shown by name.
var scopeText = map[string]string{
	"user:read:email":            "View your email address",
	"user:read:follows":          "View the list of channels you follow",
	"moderator:read:followers":   "Read the followers of channels you moderate",
	"channel:read:subscriptions": "View your channel's subscribers",
	"chat:read":                  "View live chat messages",
}

type authPageUser struct {
	Login, DisplayName, BroadcasterType string
	Avatar                              template.URL // our own SVG data URI
	Live                                bool
}

type authPage struct {
	Title, AppName, ClientID, Error string
	Notice                          string // shown above the form, e.g. "pick a user"
	Request                         authRequest
	Scopes                          []string
	Users                           []authPageUser
}

const authLayout = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
 background:#0e0e10;color:#efeff1;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:460px;margin:24px;background:#18181b;border-radius:12px;padding:28px 28px 24px;
 box-shadow:0 10px 40px rgba(0,0,0,.5)}
.badge{display:inline-block;font-size:12px;letter-spacing:.04em;text-transform:uppercase;color:#bf94ff;
 border:1px solid #3a2a5c;border-radius:999px;padding:2px 10px;margin-bottom:12px}
h1{font-size:22px;margin:0 0 6px}
p{margin:0 0 14px;color:#adadb8}
.error{background:#3b1219;border:1px solid #eb0400;color:#ffb3b3;border-radius:8px;padding:10px 12px;margin-bottom:14px}
ul.scopes{margin:0 0 16px;padding-left:20px;color:#dedee3}
fieldset{border:0;margin:0 0 18px;padding:0}
legend{font-weight:600;margin-bottom:8px}
label.user{display:flex;align-items:center;gap:12px;padding:8px 10px;border-radius:8px;border:1px solid #2f2f35;
 margin-bottom:6px;cursor:pointer}
label.user:hover{background:#26262c}
label.user input{accent-color:#9146ff;width:18px;height:18px}
label.user img{width:36px;height:36px;border-radius:50%}
.name{font-weight:600}.login{color:#adadb8;font-size:14px}
.tag{margin-left:auto;font-size:12px;color:#efeff1;background:#3a3a3d;border-radius:4px;padding:1px 6px}
.tag.live{background:#eb0400;color:#fff}
.buttons{display:flex;gap:10px;justify-content:flex-end}
button{font:inherit;font-weight:600;border:0;border-radius:6px;padding:9px 18px;cursor:pointer}
button.primary{background:#9146ff;color:#fff}button.primary:hover{background:#772ce8}
button.secondary{background:#3a3a3d;color:#efeff1}button.secondary:hover{background:#464649}
.target{font-size:13px;color:#8a8a95;margin-top:16px;word-break:break-all}
</style>
</head>
<body>
<main>
<span class="badge">Twitch simulator</span>
{{if .Error}}{{template "error" .}}{{else}}{{template "consent" .}}{{end}}
</main>
</body>
</html>
{{define "error"}}<h1>Authorization error</h1>
<div class="error" role="alert">{{.Error}}</div>
<p>The application sent an invalid authorization request. Nothing was shared with it.</p>{{end}}
{{define "consent"}}<h1>Authorize {{.AppName}}</h1>
<p><strong>{{.AppName}}</strong> wants to access your simulated Twitch account.</p>
{{if .Scopes}}<p>It will be able to:</p>
<ul class="scopes">{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>It asks for no extra permissions.</p>{{end}}
{{with .Notice}}<div class="error" role="alert">{{.}}</div>{{end}}
<form method="post" action="/id/oauth2/authorize">
<input type="hidden" name="client_id" value="{{.Request.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Request.RedirectURI}}">
<input type="hidden" name="response_type" value="{{.Request.ResponseType}}">
<input type="hidden" name="scope" value="{{.Request.Scope}}">
<input type="hidden" name="state" value="{{.Request.State}}">
<input type="hidden" name="force_verify" value="{{.Request.ForceVerify}}">
<fieldset>
<legend>Sign in as</legend>
{{range .Users}}<label class="user" for="user-{{.Login}}">
<input type="radio" id="user-{{.Login}}" name="login" value="{{.Login}}" required>
<img src="{{.Avatar}}" alt="">
<span><span class="name">{{.DisplayName}}</span><br><span class="login">@{{.Login}}</span></span>
{{if .Live}}<span class="tag live">live</span>{{else if .BroadcasterType}}<span class="tag">{{.BroadcasterType}}</span>{{end}}
</label>
{{end}}</fieldset>
<div class="buttons">
<button type="submit" class="secondary" name="action" value="cancel" formnovalidate>Cancel</button>
<button type="submit" class="primary" name="action" value="authorize">Authorize</button>
</div>
</form>
<p class="target">You will be sent back to {{.Request.RedirectURI}}</p>{{end}}`

// authTemplate is parsed once; it never changes after that.
var authTemplate = template.Must(template.New("authorize").Parse(authLayout))

// renderAuthPage renders the consent page; notice is shown above the form (e.g. "pick one").
func (s *Sim) renderAuthPage(w http.ResponseWriter, status int, ar authRequest, notice string) {
	p := authPage{Title: "Authorize " + s.cfg.AppName + " · Twitch simulator", AppName: s.cfg.AppName,
		ClientID: ar.ClientID, Request: ar, Notice: notice}
	for _, sc := range ar.Scopes {
		if t, ok := scopeText[sc]; ok {
			sc = t + " (" + sc + ")"
		}
		p.Scopes = append(p.Scopes, sc)
	}
	for _, u := range s.Users() {
		p.Users = append(p.Users, authPageUser{Login: u.Login, DisplayName: u.DisplayName,
			BroadcasterType: u.BroadcasterType, Avatar: template.URL(u.ProfileImageURL), Live: u.Stream != nil})
	}
	s.render(w, status, p)
}

// renderAuthError renders a 400 error page (never a redirect).
func (s *Sim) renderAuthError(w http.ResponseWriter, msg string) {
	s.render(w, http.StatusBadRequest, authPage{Title: "Authorization error · Twitch simulator", Error: msg})
}

// render writes the page only once it rendered completely.
func (s *Sim) render(w http.ResponseWriter, status int, p authPage) {
	var buf bytes.Buffer
	if err := authTemplate.Execute(&buf, p); err != nil {
		s.log.Error("authorize page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
