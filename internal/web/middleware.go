package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

type ctxKey int

const clientIPKey ctxKey = iota

// realIP decides the client address: the connection's peer, or, only when that peer is a
// configured trusted proxy, the nearest untrusted address in X-Forwarded-For.
func (s *Server) realIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := peerAddr(r.RemoteAddr)
		if ip.IsValid() && s.trusted(ip) {
			hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
			for i := len(hops) - 1; i >= 0; i-- {
				a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
				if err != nil {
					break
				}
				ip = a.Unmap()
				if !s.trusted(ip) {
					break
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey, ip)))
	})
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientIP is the address realIP decided on.
func ClientIP(r *http.Request) netip.Addr {
	a, _ := r.Context().Value(clientIPKey).(netip.Addr)
	return a
}

// oneSessionCookie refuses a request that carries the session cookie more than once. A
// sibling subdomain can set a cookie of our name (cookie tossing, without the __Host- prefix
// of https), and servers take the first of a name, which could be the attacker's: logged in
// as them without knowing it. The page tells the person how to get out of it.
func (s *Server) oneSessionCookie(next http.Handler) http.Handler {
	name := s.sessions.Cookie.Name
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.CookiesNamed(name)) > 1 {
			s.writeError(w, r, errTwoSessionCookies)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic in a handler into a logged 500; the process keeps serving.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "route", routePattern(r), "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one line per request: method, route pattern (never the raw path, which
// may hold a session id), status, duration and client address.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusSwitchingProtocols // hijacked by the WebSocket
		}
		route := routePattern(r)
		s.obs.HTTPRequest(route, sw.status, time.Since(start))
		s.log.Info("http", "method", r.Method, "route", route, "status", sw.status,
			"duration", time.Since(start).Round(time.Microsecond), "client", ClientIP(r).String())
	})
}

func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return strings.TrimSuffix(p, "/*")
		}
	}
	return "unmatched"
}

// securityHeaders sets a strict Content-Security-Policy (no inline script) and friends.
func securityHeaders(public *url.URL) func(http.Handler) http.Handler {
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: https://static-cdn.jtvnw.net",
		"connect-src 'self'",
		"frame-src https://player.twitch.tv",
		"form-action 'self'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	hsts := public != nil && public.Scheme == "https"
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			if hsts {
				h.Set("Strict-Transport-Security", "max-age=31536000")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// crossOriginProtection refuses cross-site unsafe requests (Sec-Fetch-Site / Origin), on top
// of the per-session CSRF token that forms carry.
func crossOriginProtection(public *url.URL) func(http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	if public != nil {
		_ = p.AddTrustedOrigin(public.Scheme + "://" + public.Host)
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return p.Handler
}
