// Package twitchsim is a Twitch simulator: the stand-in for Twitch in every twitchrelay test
// and in the demo. A *Sim is an http.Handler that serves both Twitch hosts on one listener,
// id.twitch.tv under /id/oauth2/... and api.twitch.tv under /helix/..., so a client pointed
// at BASE/id/oauth2 and BASE/helix cannot tell it from Twitch; it also serves loopback-only
// controls under /sim/... for the demo. Its Go API changes the simulated world (follows,
// streams, channel and profile changes) and delivers the matching EventSub notifications,
// signed, to webhook callbacks.
//
// The reference is docs/TWITCH.md, the project's Twitch reference. Everything twitchrelay
// claims about Twitch compatibility rests on this simulator, so it is strict wherever Twitch
// is strict, and lenient only where Twitch is lenient or where strictness would test nothing
// of ours.
//
// # Strict, as Twitch
//
//   - OAuth: client_id and exact redirect_uri on the authorize request (a bad one gets a 400
//     page, never a redirect); unknown scopes ("invalid scope requested: 'x'"); the client
//     secret (403 "invalid client secret"); codes single-use and short-lived (a code is spent
//     by the first exchange that names it, even a failed one); redirect_uri on the exchange
//     must be the one of the authorize request; refresh tokens rotate (the old one is
//     "Invalid refresh token" at once); tokens expire; revoked tokens stop validating, and
//     revoking an access token also revokes its refresh token.
//   - Helix: Bearer token and a Client-Id that matches the token's client on every request
//     (401 otherwise); a token bucket per client and user with Ratelimit-* headers and 429;
//     the EventSub rules: app token for webhooks, a 10-100 character ASCII secret, the
//     exact version and condition fields per type, known user ids, https on port 443,
//     channel.follow only with moderator:read:followers granted by a moderator (or the
//     broadcaster) named in moderator_user_id, 409 on duplicates, cost and max_total_cost,
//     mutually exclusive list filters.
//   - Deliveries: the challenge must be answered 200, text/plain, with exactly the challenge
//     as the body, or the subscription is never enabled; redirects are not followed; every
//     message is signed (docs/TWITCH.md §4.2); a failed notification is retried with the same
//     message id, and repeated failures end in notification_failures_exceeded and a
//     revocation.
//
// # Lenient, and why
//
//   - state on the authorize request is passed through but not required: Twitch does not
//     require it either; checking it is the client's job, and tests of the client should
//     see exactly what Twitch would do.
//   - The authorize page is always shown, force_verify or not, because a person (or a
//     browser test) picks which simulated user signs in.
//   - Only the authorization code flow (response_type=code), the webhook and WebSocket
//     transports and the seven subscription types twitchrelay uses are implemented; other
//     flows, transports and types are rejected with a 400 that says so rather than
//     half-simulated. channel.chat.notification over webhook is refused (403) unless its
//     reader granted user:read:chat and user:bot and the broadcaster channel:bot (or the
//     reader moderates the channel); over WebSocket user:read:chat of the token's own user
//     (the condition's user_id) is enough, as at Twitch.
//   - With Config.AllowInsecureCallbacks, callbacks may be plain http on a loopback host,
//     because tests and the demo have no public https endpoint. Other hosts still need
//     https on 443.
//   - Error messages follow the shapes of docs/TWITCH.md §1.6; where Twitch's exact wording
//     is not documented the simulator's wording is descriptive. Clients should branch on
//     status codes, not messages.
//   - Refreshing does not invalidate the previous access token (it lives until it expires),
//     and Get Streams only paginates the unfiltered list.
//
// # Misbehaving on purpose
//
// SetMisbehavior delivers every notification twice with the same message id, or with a
// skewed timestamp; InjectFault makes Helix or OAuth requests fail or stall; a callback that
// answers non-2xx sees retries with the same message id. Receivers must survive all of it.
//
// Deliveries never happen while the world's lock is held; trigger methods return after
// every delivery finished, and Close waits for background work (verifications, the activity
// generator) to end.
package twitchsim
