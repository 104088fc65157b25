package web

import "time"

// Observer receives the web layer's measurements (Prometheus in production, nothing in tests).
type Observer interface {
	HTTPRequest(route string, status int, d time.Duration)
	WSOpened()
	WSClosed()
	WSRejected(reason string)
	WSSlow()
	SessionStoreError()
}

type nopObserver struct{}

func (nopObserver) HTTPRequest(string, int, time.Duration) {}
func (nopObserver) WSOpened()                              {}
func (nopObserver) WSClosed()                              {}
func (nopObserver) WSRejected(string)                      {}
func (nopObserver) WSSlow()                                {}
func (nopObserver) SessionStoreError()                     {}
