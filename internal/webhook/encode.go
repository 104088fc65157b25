package webhook

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// AppendJSON appends e as the JSON object encoding/json would write for it, without its
// reflection: the frame of every event is built here, once per notification. Raw, Twitch's
// event as received, is forwarded as it came (compacted only if it spans lines), not decoded
// and encoded again; encoding/json would also have escaped <, > and & inside it, which JSON
// readers read the same.
func (e *Event) AppendJSON(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, 160+len(e.ID)+len(e.Type)+len(e.Summary)+len(e.Actor.ID)+len(e.Actor.Login)+
			len(e.Actor.Name)+len(e.Title)+len(e.Category)+len(e.Raw))
	}
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","summary":`...)
	b = appendJSONString(b, e.Summary)
	b = append(b, `,"actor":{"id":`...)
	b = appendJSONString(b, e.Actor.ID)
	b = append(b, `,"login":`...)
	b = appendJSONString(b, e.Actor.Login)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, e.Actor.Name)
	b = append(b, '}')
	if e.Title != "" {
		b = append(b, `,"title":`...)
		b = appendJSONString(b, e.Title)
	}
	if e.Category != "" {
		b = append(b, `,"category":`...)
		b = appendJSONString(b, e.Category)
	}
	if raw := jsontext.Value(e.Raw); len(raw) > 0 && raw.IsValid() {
		b = append(b, `,"raw":`...)
		if bytes.ContainsAny(raw, "\r\n") { // formatted over lines: one line, as a frame must be
			raw = bytes.Clone(raw)
			_ = raw.Compact() // valid, checked above
		}
		b = append(b, raw...)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it: control characters, <, > and
// & as \u escapes (\n, \r, \t, \" and \\ short), invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = strconv.AppendInt(b, int64(r&0xf), 16)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
