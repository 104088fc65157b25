package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// appError is a user-facing error: what the person sees and the status they get.
type appError struct {
	Status     int
	Heading    string
	Message    string
	RetryURL   string
	RetryLabel string
	retryAfter string // Retry-After header, seconds ("" = none)
	cause      error
}

func (e *appError) Error() string {
	if e.cause != nil {
		return e.Heading + ": " + e.cause.Error()
	}
	return e.Heading
}

func (e *appError) Unwrap() error { return e.cause }

// with returns a copy of e that records the underlying cause for the logs.
func (e *appError) with(cause error) *appError {
	c := *e
	c.cause = cause
	return &c
}

// The catalog of errors a person can meet.
var (
	errNotFound          = &appError{Status: http.StatusNotFound, Heading: "Page not found", Message: "There is nothing at this address.", RetryURL: "/", RetryLabel: "Go to the start"}
	errMethodNotAllowed  = &appError{Status: http.StatusMethodNotAllowed, Heading: "Method not allowed", Message: "This address does not take that kind of request."}
	errAccessDenied      = &appError{Status: http.StatusForbidden, Heading: "Twitch login was cancelled", Message: "You chose not to authorize twitchrelay on Twitch. Nothing was shared. You can try again whenever you like.", RetryURL: "/login", RetryLabel: "Try again"}
	errBadState          = &appError{Status: http.StatusBadRequest, Heading: "That login link has expired", Message: "The login could not be matched to this browser (it was used already, started in another tab or window, or your session expired). Please start again.", RetryURL: "/login", RetryLabel: "Log in again"}
	errBadCode           = &appError{Status: http.StatusBadRequest, Heading: "Twitch did not accept the login", Message: "The code Twitch sent back was invalid or already used. Please log in again.", RetryURL: "/login", RetryLabel: "Log in again"}
	errLoginFailed       = &appError{Status: http.StatusBadGateway, Heading: "Could not finish logging in", Message: "Twitch did not answer as expected. Please try again in a moment.", RetryURL: "/login", RetryLabel: "Try again"}
	errAuthorizeError    = &appError{Status: http.StatusBadRequest, Heading: "Twitch did not complete the login", Message: "Twitch sent the login back with an error instead of a code. Please log in again.", RetryURL: "/login", RetryLabel: "Log in again"}
	errCSRF              = &appError{Status: http.StatusForbidden, Heading: "This form has expired", Message: "For your safety the form could not be accepted (it came from another site or an old page). Please reload the page and submit it again.", RetryURL: "/", RetryLabel: "Start again"}
	errTwitchDown        = &appError{Status: http.StatusServiceUnavailable, Heading: "Twitch is not answering right now", Message: "Twitch did not answer in time or asked us to slow down. Your session is safe: try again in a moment.", RetryLabel: "Try again"}
	errSessionStore      = &appError{Status: http.StatusServiceUnavailable, Heading: "We can't reach our session store", Message: "twitchrelay can't load your session right now. Nothing is lost: please try again in a minute.", RetryLabel: "Try again"}
	errSessionEnded      = &appError{Status: http.StatusUnauthorized, Heading: "Your Twitch login has ended", Message: "Twitch no longer accepts this login (you disconnected the app or changed your password). Please log in again.", RetryURL: "/login", RetryLabel: "Log in again"}
	errTwoSessionCookies = &appError{Status: http.StatusBadRequest, Heading: "Your browser sent two login cookies", Message: "Another site under this domain may have set a second login cookie for twitchrelay, so we can't tell which login is yours. Delete this site's cookies in your browser, then log in again.", RetryURL: "/", RetryLabel: "Go to the start"}
	errInternal          = &appError{Status: http.StatusInternalServerError, Heading: "Something went wrong", Message: "An unexpected error happened on our side. It has been logged; please try again.", RetryURL: "/", RetryLabel: "Go to the start"}
)

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(http.ResponseWriter, *http.Request) error

// handle adapts a handlerFunc: errors become a rendered error page with the right status.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.RetryURL == "" && ae.RetryLabel != "" {
		ae.RetryURL = r.URL.Path // same page; never a URL from the request's query
	}
	if ae.retryAfter != "" {
		w.Header().Set("Retry-After", ae.retryAfter)
	}
	attrs := []any{"method", r.Method, "route", routePattern(r), "status", ae.Status, "err", err}
	if ae.Status >= 500 {
		s.log.Error("request failed", attrs...)
	} else {
		s.log.Info("request refused", attrs...)
	}
	s.renderStatus(w, r, ae.Status, "error", errorPage{basePage: s.base(r, ae.Heading), Heading: ae.Heading, Message: ae.Message, RetryURL: ae.RetryURL, RetryLabel: ae.RetryLabel})
}

// classify maps any error onto the catalog.
func classify(err error) appError {
	var ae *appError
	switch {
	case errors.As(err, &ae):
		return *ae
	case errors.Is(err, helix.ErrRateLimited), errors.Is(err, helix.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return *errTwitchDown
	case errors.Is(err, errSessionStoreDown):
		return *errSessionStore
	}
	return *errInternal
}

var errSessionStoreDown = errors.New("session store unavailable")

// sessionError is scs's ErrorFunc: the session store (Redis) failed to load or save.
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	s.obs.SessionStoreError()
	s.log.Error("session store", "route", routePattern(r), "err", err)
	if r.Header.Get("Upgrade") != "" {
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	s.renderStatus(w, r, http.StatusServiceUnavailable, "error", errorPage{basePage: basePage{Title: errSessionStore.Heading, Demo: s.opt.Demo, Version: s.opt.Version}, Heading: errSessionStore.Heading, Message: errSessionStore.Message, RetryURL: r.URL.Path, RetryLabel: "Try again"})
}
