// The stream page: one WebSocket to /ws, resumable by sequence number, rendering events as
// an activity feed. Server values arrive through data-* attributes; nothing here builds HTML
// from strings (textContent and DOM nodes only).

const $ = (id) => document.getElementById(id);
const root = $("stream");
const list = $("events");
const empty = $("events-empty");
const connState = $("conn-state");
const feedsList = $("feeds");

const MAX_EVENTS = 500;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const TIME_REFRESH_MS = 20000;
const SOUND_GAP_MS = 1500;
const PHONE = window.matchMedia("(max-width: 760px)");
const STORE = { sound: "twitchrelay.sound", notify: "twitchrelay.notify" };

// What the page does when the server closes the socket, by close code (docs/PROTOCOL.md).
//   then: "resume" reconnects with backoff and resumes; "now" reconnects at once;
//         "ended" shows the session-ended state; "stop" stops and shows text;
//         "reload" reloads the page.
// A code not listed here resumes (network drops arrive as 1006).
const ON_CLOSE = {
  1001: { then: "resume" }, // server going away (restart, deploy)
  1008: { then: "resume" }, // no stream_connected in time
  1009: { then: "stop", text: "Stopped: the page sent a message the server refused (too big)" },
  4000: { then: "now" }, // we fell behind: come straight back and catch up
  4001: { then: "ended", text: "Your Twitch login ended (you logged out, or Twitch no longer accepts it)." },
  4400: { then: "stop", text: (ev) => "Stopped: " + (ev.reason || "the server did not understand the page") },
  4401: { then: "ended", text: "The server no longer knows this login (it may have restarted)." },
  4409: { then: "reload" }, // another tab chose another streamer: show that one
  4429: { then: "stop", text: "Too many tabs open: close some and reload this one" }, // no reconnect loop
};

const state = {
  epoch: "", lastSeq: 0, attempts: 0, socket: null, welcomed: false, timer: 0,
  stopped: false, netDown: false, seen: new Set(),
  away: document.visibilityState === "hidden", unread: 0,
  paused: false, queue: [], lastSound: 0, audio: null,
};

// ---- connection pill: derived from the socket's real state, re-rendered on every change ----

const CONN_TEXT = {
  connecting: "Connecting…", live: "Connected", reconnecting: "Reconnecting…",
  offline: "Offline: waiting for the network", ended: "Session ended",
};

function setConn(kind, text) {
  connState.className = "conn-state conn-" + kind;
  connState.dataset.state = kind;
  connState.textContent = text || CONN_TEXT[kind];
}

function renderConn() {
  if (state.stopped) return; // stop() and endSession() said why
  const ws = state.socket;
  if (ws && ws.readyState === WebSocket.OPEN && state.welcomed && !state.netDown) setConn("live");
  else if (state.netDown || navigator.onLine === false) setConn("offline");
  else if (state.attempts > 0) setConn("reconnecting");
  else setConn("connecting");
}

function wsURL() {
  const u = new URL(root.dataset.wsUrl || "/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

function connect() {
  clearTimeout(state.timer);
  if (state.stopped || state.socket) return;
  let ws;
  try {
    ws = new WebSocket(wsURL());
  } catch {
    scheduleReconnect();
    return;
  }
  state.socket = ws;
  state.welcomed = false;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "stream_connected", epoch: state.epoch, last_seq: state.lastSeq }));
  });
  ws.addEventListener("message", (m) => {
    if (state.socket !== ws) return;
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    state.netDown = false; // a frame arrived: the network is there, whatever the browser said
    // A batch (docs/PROTOCOL.md) is an array of frames, in order; anything else is one frame.
    for (const one of Array.isArray(msg) ? msg : [msg]) handle(one);
    renderConn();
  });
  ws.addEventListener("close", (ev) => {
    if (state.socket !== ws) return;
    state.socket = null;
    state.welcomed = false;
    const rule = ON_CLOSE[ev.code] || { then: "resume" };
    const text = typeof rule.text === "function" ? rule.text(ev) : rule.text;
    switch (rule.then) {
      case "ended":
        endSession(text);
        return;
      case "stop":
        stop(text);
        return;
      case "reload":
        state.stopped = true;
        location.reload();
        return;
      case "now":
        state.attempts = 0;
        break;
    }
    scheduleReconnect();
  });
  renderConn();
}

function scheduleReconnect() {
  if (state.stopped) return;
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempts);
  const delay = Math.round(Math.random() * cap); // full jitter
  state.attempts++;
  renderConn();
  clearTimeout(state.timer);
  state.timer = setTimeout(connect, delay);
}

function closeSocket() {
  clearTimeout(state.timer);
  const ws = state.socket;
  state.socket = null;
  if (ws) ws.close(1000, "page stopped");
}

// stop ends the connection for good and says why in the pill.
function stop(text) {
  state.stopped = true;
  closeSocket();
  setConn("offline", text);
}

// endSession is the one "your session ended" state: a box with a way to log in again, no
// account in the top bar, feeds marked stopped. The events already shown stay.
function endSession(why) {
  state.stopped = true;
  closeSocket();
  setConn("ended");
  const box = $("session-ended");
  if (why) $("session-ended-why").textContent = why;
  box.hidden = false;
  box.setAttribute("role", "alert");
  const nav = document.querySelector(".topnav");
  if (nav) nav.hidden = true;
  for (const li of feedsList.querySelectorAll("li.feed")) {
    li.dataset.status = "stopped";
    const s = li.querySelector(".status");
    s.className = "status status-stopped";
    s.textContent = "Stopped";
  }
  $("feeds-summary").textContent = "Stopped: your session ended";
  for (const b of root.querySelectorAll(".events-tools button")) b.disabled = true;
  root.classList.add("is-ended");
  $("login-again").focus({ preventScroll: true });
}

// ---- messages ----

function handle(msg) {
  switch (msg.type) {
    case "welcome":
      state.attempts = 0;
      state.welcomed = true;
      break;
    case "event_updated":
      onEvent(msg);
      break;
    case "feed_status":
      renderFeeds(msg.feeds || []);
      break;
    case "events_missing":
      onMissing(msg);
      break;
    case "history_gap":
      if (msg.first_available_seq <= msg.after_seq) {
        state.lastSeq = 0; // the session started over on the server: take what comes
      } else if (state.lastSeq > 0) {
        notice(`Some events from while you were away are no longer available (${msg.first_available_seq - msg.after_seq - 1} missed).`);
      }
      break;
  }
}

// onMissing is the server's word that Twitch's connection was lost and events in a span of
// time were never delivered (Twitch replays nothing): it is said once, in the list.
function onMissing(msg) {
  if (msg.epoch !== state.epoch) {
    state.epoch = msg.epoch;
    state.lastSeq = 0;
  }
  if (msg.seq <= state.lastSeq) return;
  state.lastSeq = msg.seq;
  const span = msg.event || {};
  const hhmm = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const why = span.reason ? ` (${span.reason})` : "";
  notice(`Events between ${hhmm(span.from)} and ${hhmm(span.until)} may be missing${why}.`);
}

function onEvent(msg) {
  if (msg.epoch !== state.epoch) {
    // A new server process: its sequence starts again; what we showed stays on the page.
    state.epoch = msg.epoch;
    state.lastSeq = 0;
  }
  if (msg.seq <= state.lastSeq) return;
  state.lastSeq = msg.seq;
  const ev = msg.event || {};
  if (ev.id && state.seen.has(ev.id)) return; // the same Twitch message, seen through another epoch
  if (ev.id) state.seen.add(ev.id);
  const entry = describe(ev, msg.seq);
  applyToHeader(ev);
  if (state.paused) {
    state.queue.push(entry);
    renderPaused();
  } else {
    show(entry);
  }
  alertUser(entry);
}

// ---- rows ----

const KINDS = {
  "channel.follow": { kind: "follow", icon: "♥" },
  "user.follows": { kind: "follows", icon: "➜" },
  "stream.online": { kind: "online", icon: "●" },
  "stream.offline": { kind: "offline", icon: "■" },
  "channel.update": { kind: "update", icon: "✎" },
  "user.update": { kind: "profile", icon: "☺" },
};

const channelURL = (login) => "https://www.twitch.tv/" + encodeURIComponent(login);

// describe turns an event into what a row shows: its text (the server's summary, with the
// actor's name as a link when the summary starts with it), a detail line, and a key that
// identical repeats share.
function describe(ev, seq) {
  const summary = summaryOf(ev);
  const actor = ev.actor || {};
  const e = { seq, type: ev.type || "", summary, detail: "", actor, when: ev.time ? new Date(ev.time) : new Date(Date.now()) };
  if (ev.type === "user.update") e.detail = profileChange(ev.raw || {});
  e.key = e.type + "\n" + e.summary + "\n" + e.detail;
  return e;
}

// summaryOf is the entry's text. Twitch's stream.online carries no title: the page shows the
// title it already knows (from the page load or the last channel.update).
function summaryOf(ev) {
  const known = $("stream-title").textContent.trim();
  if (ev.type === "stream.online" && !ev.title && known && ev.summary === "Went live") {
    return "Went live: " + known;
  }
  return ev.summary || ev.type || "event";
}

// profileChange says what a user.update changed, against what the page shows now (called
// before the header takes the new values).
function profileChange(raw) {
  const parts = [];
  const name = $("streamer-name").textContent.trim();
  const desc = $("streamer-description").textContent.trim();
  if (raw.user_name && raw.user_name !== name) parts.push(`name: ${name} → ${raw.user_name}`);
  if (raw.description !== undefined && raw.description.trim() !== desc) {
    parts.push(raw.description.trim() ? `new description: “${raw.description.trim()}”` : "description removed");
  }
  return parts.length ? parts.join(" · ") : "nothing visible changed";
}

function show(e) {
  const top = list.querySelector("li.event");
  if (top && top.dataset.key === e.key && list.firstElementChild === top) {
    // The same thing again: one row that counts, with the latest sequence and time.
    const n = Number(top.dataset.count || "1") + 1;
    top.dataset.count = String(n);
    top.dataset.seq = String(e.seq);
    const count = top.querySelector(".event-count");
    count.hidden = false;
    count.textContent = "×" + n;
    setTime(top.querySelector("time"), e.when);
    return;
  }
  list.prepend(renderRow(e));
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  empty.hidden = true;
  if (scrolledAway()) $("new-events").hidden = false;
}

function renderRow(e) {
  const k = KINDS[e.type] || { kind: "other", icon: "•" };
  const li = document.createElement("li");
  li.className = "event event-new kind-" + k.kind;
  li.dataset.seq = String(e.seq);
  li.dataset.type = e.type;
  li.dataset.key = e.key;
  const icon = document.createElement("span");
  icon.className = "event-icon";
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = k.icon;

  const body = document.createElement("div");
  body.className = "event-body";
  const text = document.createElement("p");
  text.className = "event-text";
  text.title = e.summary;
  const name = e.actor.name || e.actor.login || "";
  if (name && e.actor.login && e.summary.startsWith(name)) {
    const a = document.createElement("a");
    a.className = "actor";
    a.href = channelURL(e.actor.login);
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    if (e.actor.login === root.dataset.streamer) {
      const img = document.createElement("img");
      img.className = "avatar avatar-xs";
      img.src = $("streamer-avatar").src;
      img.alt = "";
      img.width = img.height = 20;
      a.append(img);
    }
    const b = document.createElement("strong");
    b.textContent = name;
    a.append(b);
    text.append(a, e.summary.slice(name.length));
  } else {
    text.textContent = e.summary;
  }
  text.addEventListener("click", (ev) => { if (!ev.target.closest("a")) li.classList.toggle("expanded"); });
  body.append(text);
  if (e.detail) {
    const d = document.createElement("p");
    d.className = "event-detail";
    d.textContent = e.detail;
    body.append(d);
  }

  const meta = document.createElement("span");
  meta.className = "event-meta";
  const count = document.createElement("span");
  count.className = "event-count";
  count.hidden = true;
  const time = document.createElement("time");
  setTime(time, e.when);
  meta.append(count, time);
  li.append(icon, body, meta);
  return li;
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  list.prepend(li);
  empty.hidden = true;
}

// ---- times that age ----

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// ago is "just now", "5 min ago", "14:05" (earlier today) or "27 Nov, 14:05".
function ago(when, now) {
  const s = Math.round((now - when.getTime()) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return Math.max(1, Math.round(s / 60)) + " min ago";
  const clock = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (sameDay(when, new Date(now))) return clock;
  return when.toLocaleDateString([], { day: "numeric", month: "short" }) + ", " + clock;
}

function setTime(el, when) {
  el.dateTime = when.toISOString();
  el.title = when.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
  el.textContent = ago(when, Date.now());
}

function refreshTimes() {
  const now = Date.now();
  for (const t of list.querySelectorAll("time")) t.textContent = ago(new Date(t.dateTime), now);
}

// ---- header and tab title ----

function applyToHeader(ev) {
  const badge = $("live-badge");
  const title = $("stream-title");
  const category = $("stream-category");
  switch (ev.type) {
    case "stream.online":
      badge.className = "badge badge-live";
      badge.textContent = "Live";
      if (ev.title) title.textContent = ev.title;
      break;
    case "stream.offline":
      badge.className = "badge badge-offline";
      badge.textContent = "Offline";
      break;
    case "channel.update":
      if (ev.title !== undefined) title.textContent = ev.title;
      category.textContent = ev.category ? "· " + ev.category : "";
      break;
    case "user.update": {
      const raw = ev.raw || {};
      if (raw.user_name) {
        $("streamer-name").textContent = raw.user_name;
        root.dataset.name = raw.user_name;
      }
      if (raw.description !== undefined) $("streamer-description").textContent = raw.description;
      break;
    }
  }
  $("stream-line").title = title.textContent;
  renderTitle();
}

// renderTitle: "(3) PixelPaladin · live · twitchrelay" — the unread count while the tab is
// in the background, whose events these are, and whether the stream is on.
function renderTitle() {
  const live = $("live-badge").classList.contains("badge-live");
  const n = state.unread;
  document.title = (n ? `(${n}) ` : "") + root.dataset.name + (live ? " · live" : " · offline") + " · twitchrelay";
}

function setAway(away) {
  state.away = away;
  if (!away && state.unread) {
    state.unread = 0;
    renderTitle();
  }
  if (!away) refreshTimes();
}

// ---- noticing without staring: unread count, sound, desktop notification ----

function alertUser(e) {
  if (state.away) {
    state.unread++;
    renderTitle();
    if (localStorage.getItem(STORE.notify) === "1" && "Notification" in window && Notification.permission === "granted") {
      try {
        new Notification(root.dataset.name + ": " + e.summary, { body: e.detail, tag: "twitchrelay-" + root.dataset.streamer, icon: $("streamer-avatar").src });
      } catch { /* some browsers only notify from a service worker */ }
    }
  }
  if (localStorage.getItem(STORE.sound) === "1") beep();
}

function beep() {
  const now = Date.now();
  if (now - state.lastSound < SOUND_GAP_MS) return;
  state.lastSound = now;
  try {
    state.audio ||= new AudioContext();
    const ctx = state.audio;
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.3);
  } catch { /* no audio: nothing to do */ }
}

function setupAlerts() {
  const sound = $("opt-sound"), notify = $("opt-notify"), note = $("alerts-note");
  sound.checked = localStorage.getItem(STORE.sound) === "1";
  notify.checked = localStorage.getItem(STORE.notify) === "1" && "Notification" in window && Notification.permission === "granted";
  if (!("Notification" in window)) {
    notify.disabled = true;
    note.textContent = "This browser cannot show desktop notifications.";
  }
  sound.addEventListener("change", () => {
    localStorage.setItem(STORE.sound, sound.checked ? "1" : "0");
    if (sound.checked) { state.lastSound = 0; beep(); } // the click lets the page play sound
  });
  notify.addEventListener("change", async () => {
    if (!notify.checked) { localStorage.setItem(STORE.notify, "0"); return; }
    const p = await Notification.requestPermission();
    notify.checked = p === "granted";
    localStorage.setItem(STORE.notify, notify.checked ? "1" : "0");
    if (p === "denied") note.textContent = "Notifications are blocked for this site in your browser's settings.";
  });
}

// ---- pause, clear, "new events" ----

function renderPaused() {
  const btn = $("pause"), note = $("paused-note");
  btn.setAttribute("aria-pressed", String(state.paused));
  btn.textContent = state.paused ? (state.queue.length ? `Resume (${state.queue.length})` : "Resume") : "Pause";
  note.hidden = !state.paused;
  note.textContent = state.queue.length
    ? `Paused: ${state.queue.length} new event${state.queue.length === 1 ? "" : "s"} waiting.`
    : "Paused: new events wait until you resume.";
}

function setupTools() {
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    if (!state.paused) {
      for (const e of state.queue) show(e);
      state.queue = [];
    }
    renderPaused();
  });
  $("clear").addEventListener("click", () => {
    list.replaceChildren();
    state.queue = [];
    empty.textContent = "Cleared. New events appear here as they happen.";
    empty.hidden = false;
    if (state.paused) renderPaused();
  });
  const jump = $("new-events");
  jump.addEventListener("click", () => {
    jump.hidden = true;
    list.scrollTop = 0;
    $("events-h").scrollIntoView({ block: "start", behavior: "smooth" });
  });
  const seen = () => { if (!scrolledAway()) jump.hidden = true; };
  list.addEventListener("scroll", seen, { passive: true });
  window.addEventListener("scroll", seen, { passive: true });
}

// scrolledAway: the newest row is out of sight (the list or the page was scrolled down).
function scrolledAway() {
  return list.scrollTop > 40 || list.getBoundingClientRect().top < 0;
}

// ---- feeds panel ----

const feedWords = (() => { try { return JSON.parse(feedsList.dataset.feedWords || "{}"); } catch { return {}; } })();

function feedSummary(feeds) {
  const on = feeds.filter((f) => f.status === "active").length;
  if (feeds.some((f) => f.status === "pending")) return "Starting…";
  if (on === feeds.length) return `All ${on} on`;
  return `${on} of ${feeds.length} on · ${feeds.length - on} not available`;
}

function renderFeeds(feeds) {
  if (state.stopped) return;
  const items = feeds.map((f) => {
    const li = document.createElement("li");
    li.className = "feed";
    li.dataset.feed = f.feed;
    li.dataset.status = f.status;
    const name = document.createElement("span");
    name.className = "feed-name";
    name.textContent = f.name || f.feed;
    const status = document.createElement("span");
    status.className = "status status-" + f.status;
    status.textContent = feedWords[f.status] || f.status;
    li.append(name, " ", status);
    if (f.reason) {
      const reason = document.createElement("span");
      reason.className = "reason";
      reason.textContent = f.reason;
      li.append(reason);
    }
    return li;
  });
  feedsList.replaceChildren(...items);
  $("feeds-summary").textContent = feedSummary(feeds);
}

// ---- layout: on a phone the player and the feeds start folded ----

function fitLayout() {
  const phone = PHONE.matches;
  $("player-box").open = !phone;
  $("feeds-box").open = !phone;
}

// ---- start ----

window.addEventListener("online", () => {
  state.netDown = false;
  state.attempts = 0;
  if (!state.socket) connect(); else renderConn();
});
window.addEventListener("offline", () => { state.netDown = true; renderConn(); });
// Away: the tab is hidden or another window has the focus (not the player: clicking into its
// iframe also blurs the window).
window.addEventListener("blur", () => { if (document.activeElement?.tagName !== "IFRAME") setAway(true); });
window.addEventListener("focus", () => setAway(false));
document.addEventListener("visibilitychange", () => {
  const visible = document.visibilityState === "visible";
  setAway(!visible);
  if (visible && !state.socket && !state.stopped) { state.attempts = 0; connect(); }
});
PHONE.addEventListener("change", fitLayout);
setInterval(refreshTimes, TIME_REFRESH_MS);

fitLayout();
setupTools();
setupAlerts();
renderTitle();
connect();
