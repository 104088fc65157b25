package twitchsim

import "net/http"

// helixChannel is one entry of GET /helix/channels.
type helixChannel struct {
	BroadcasterID               string   `json:"broadcaster_id"`
	BroadcasterLogin            string   `json:"broadcaster_login"`
	BroadcasterName             string   `json:"broadcaster_name"`
	BroadcasterLanguage         string   `json:"broadcaster_language"`
	GameID                      string   `json:"game_id"`
	GameName                    string   `json:"game_name"`
	Title                       string   `json:"title"`
	Delay                       int      `json:"delay"`
	Tags                        []string `json:"tags"`
	ContentClassificationLabels []string `json:"content_classification_labels"`
	IsBrandedContent            bool     `json:"is_branded_content"`
}

// helixChannels serves GET /helix/channels?broadcaster_id=.. (1 to 100 ids, required), the
// channel information whether live or not. Unknown ids are left out, as on Twitch.
func (s *Sim) helixChannels(w http.ResponseWriter, r *http.Request, _ caller) {
	ids := r.URL.Query()["broadcaster_id"]
	switch {
	case len(ids) == 0:
		helixError(w, http.StatusBadRequest, "Missing required parameter \"broadcaster_id\"")
		return
	case len(ids) > 100:
		helixError(w, http.StatusBadRequest, "The number of broadcaster_id parameters must not exceed 100")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []helixChannel{}
	for _, id := range ids {
		u := s.world.users[id]
		if u == nil {
			continue
		}
		labels := u.Channel.ContentClassificationLabels
		if labels == nil {
			labels = []string{}
		}
		out = append(out, helixChannel{BroadcasterID: u.ID, BroadcasterLogin: u.Login, BroadcasterName: u.DisplayName,
			BroadcasterLanguage: u.Channel.Language, GameID: u.Channel.CategoryID, GameName: u.Channel.CategoryName,
			Title: u.Channel.Title, Tags: []string{}, ContentClassificationLabels: labels})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}
