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
	Delivered(d time.Duration)         // from a verified callback to its frame written on a socket
	Webhook(eventType, outcome string) // one per callback
}

type nopObserver struct{}

func (nopObserver) HTTPRequest(string, int, time.Duration) {}
func (nopObserver) WSOpened()                              {}
func (nopObserver) WSClosed()                              {}
func (nopObserver) WSRejected(string)                      {}
func (nopObserver) WSSlow()                                {}
func (nopObserver) SessionStoreError()                     {}
func (nopObserver) Delivered(time.Duration)                {}
func (nopObserver) Webhook(string, string)                 {}
