package relay

import (
	"context"
	"time"

	"github.com/twitchrelay/twitchrelay/internal/eventsub"
	"github.com/twitchrelay/twitchrelay/internal/helix"
)

// A subscription Twitch created pending is usable only once Twitch got our answer to its
// webhook_callback_verification. If the challenge never reaches us (a proxy, TLS or firewall
// problem on its path) Twitch marks it failed and never tells us, so every subscription we
// hold pending is checked: after Config.VerifyTimeout, if no challenge was answered for it,
// Twitch is asked what became of it. Enabled (the answer reached Twitch but we did not mark
// it, e.g. another instance answered): active. Failed, disabled or gone: it fails (failed
// with reasonVerifyFailed) in every session that references it, is deleted in Twitch and
// forgotten, so the next SubscribeToAllEvents of each creates it again. Still pending, or Twitch not
// answering: checked again, at most verifyChecks times in all, then it fails.

// watchVerification arms the checks of sh, a subscription Twitch created (or listed)
// pending. The checks run in the Manager's background: Shutdown cancels and waits for them.
func (m *Manager) watchVerification(sh *shared) {
	if m.ctx.Err() != nil {
		return
	}
	m.goBackground(func(ctx context.Context) {
		wait := m.cfg.VerifyTimeout
		if m.cfg.Owners != nil { // another instance may answer the challenge: its record says so
			if m.verifiedElsewhere(ctx, sh, wait) {
				return
			}
			wait = time.Nanosecond // that was the first wait: ask Twitch now
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		for check := 1; ; check++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if m.checkVerification(ctx, sh, check == verifyChecks) {
				return
			}
			t.Reset(m.cfg.VerifyTimeout)
		}
	})
}

// stillPending reports whether sh is still a live subscription (known by its id, referenced)
// that no challenge has made active, and returns its id.
func (m *Manager) stillPending(sh *shared) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sh.id, sh.id != "" && m.subs[sh.id] == sh && len(sh.refs) > 0 && sh.status == StatusPending
}

// checkVerification is one check of a pending subscription; last gives up on it when Twitch
// still has it pending or cannot say. It reports whether the checks are over.
func (m *Manager) checkVerification(ctx context.Context, sh *shared, last bool) bool {
	id, pending := m.stillPending(sh)
	if !pending { // answered, revoked, failed or unreferenced meanwhile
		return true
	}
	lctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
	subs, err := m.cfg.Helix.ListSubscriptions(lctx, helix.ListFilter{SubscriptionID: id})
	cancel()
	if ctx.Err() != nil { // shutting down
		return true
	}
	if err != nil {
		m.hookError("list subscription", err)
		m.log.Warn("check unverified subscription", "subscription_id", id, "event_type", sh.typ, "last", last, "err", err)
		if last {
			m.failVerification(ctx, sh, "unknown", StatusFailed, reasonVerifyFailed)
		}
		return last
	}
	twitch := "not_found"
	for _, sub := range subs {
		if sub.ID == id {
			twitch = sub.Status
		}
	}
	switch twitch {
	case eventsub.StatusEnabled:
		if _, pending := m.stillPending(sh); pending {
			m.log.Info("subscription verified elsewhere", "subscription_id", id, "event_type", sh.typ)
			m.setShareStatus(ctx, sh, StatusActive, "", false)
		}
		return true
	case eventsub.StatusVerificationPending:
		if !last {
			m.log.Info("subscription still unverified", "subscription_id", id, "event_type", sh.typ)
			return false
		}
		m.failVerification(ctx, sh, twitch, StatusFailed, reasonVerifyFailed)
	case "not_found":
		m.failVerification(ctx, sh, twitch, StatusFailed, reasonVerifyFailed)
	default: // webhook_callback_verification_failed, or disabled otherwise
		status, reason := twitchStatus(twitch)
		m.failVerification(ctx, sh, twitch, status, reason)
	}
	return true
}

// failVerification gives up a subscription that was never verified: it is forgotten (nobody
// joins it or answers its challenge any more), deleted in Twitch and in the records of its
// sessions, and every referencing session is told status and reason.
func (m *Manager) failVerification(ctx context.Context, sh *shared, twitch, status, reason string) {
	m.mu.Lock()
	if sh.id == "" || m.subs[sh.id] != sh { // revoked or released meanwhile
		m.mu.Unlock()
		return
	}
	m.forget(sh)
	id, refs := sh.id, keysExcept(sh.refs, "")
	m.mu.Unlock()
	m.log.Warn("subscription never verified", "subscription_id", id, "event_type", sh.typ,
		"twitch_status", twitch, "sessions", len(refs))
	dctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
	defer cancel()
	m.forgetRegistered(dctx, id)                  // nobody joins it any more
	if err := m.deleteSub(dctx, id); err != nil { // the next Reconcile deletes it
		m.log.Warn("delete unverified subscription", "subscription_id", id, "err", err)
	}
	for _, sid := range refs {
		if err := m.cfg.Store.DeleteSub(dctx, sid, id); err != nil {
			m.hookError("store delete", err)
			m.log.Warn("store forget subscription", "session", shortID(sid), "subscription_id", id, "err", err)
		}
	}
	m.setShareStatus(ctx, sh, status, reason, true)
}
