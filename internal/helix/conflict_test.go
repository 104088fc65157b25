package helix

import "testing"

// The simulator always sends the existing id as "id"; Twitch's field name is not
// documented, so the other likely shapes are checked here.
func TestConflictID(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{`{"error":"Conflict","status":409,"message":"subscription already exists","id":"a"}`, "a"},
		{`{"status":409,"subscription_id":"b"}`, "b"},
		{`{"status":409,"existing_subscription_id":"c","id":"x"}`, "c"},
		{`{"data":[{"id":"d"}]}`, "d"},
		{`{"error":"Conflict","status":409,"message":"subscription already exists"}`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := conflictID([]byte(tt.body)); got != tt.want {
			t.Errorf("conflictID(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
