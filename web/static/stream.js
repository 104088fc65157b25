// The stream page: one WebSocket to /ws, resumable by sequence number, rendering events as text.
// Server values arrive through data-* attributes; nothing here builds HTML from strings.

const root = document.getElementById("stream");
const list = document.getElementById("events");
const empty = document.getElementById("events-empty");
const connState = document.getElementById("conn-state");
const feedsList = document.getElementById("feeds");

const MAX_EVENTS = 500;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

// Close codes the server uses (see docs/PROTOCOL.md).
const CLOSE_GOING_AWAY = 1001;
const CLOSE_SLOW = 4000;
const CLOSE_ENDED = 4001;
const CLOSE_BAD_MESSAGE = 4400;
const CLOSE_NO_SESSION = 4401;
const CLOSE_STREAMER_CHANGED = 4409;
const CLOSE_TOO_MANY = 4429;

const state = { epoch: "", lastSeq: 0, attempts: 0, socket: null, timer: 0, stopped: false, seen: new Set() };

const ICONS = {
  "channel.follow": "♥", "user.follows": "➜", "stream.online": "●", "stream.offline": "■",
  "channel.update": "✎", "user.update": "☺",
};

function setConn(kind, text) {
  connState.className = "conn-state conn-" + kind;
  connState.dataset.state = kind;
  connState.textContent = text;
}

function wsURL() {
  const u = new URL(root.dataset.wsUrl || "/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

function connect() {
  clearTimeout(state.timer);
  if (state.stopped) return;
  let ws;
  try {
    ws = new WebSocket(wsURL());
  } catch (e) {
    scheduleReconnect();
    return;
  }
  state.socket = ws;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "stream_connected", epoch: state.epoch, last_seq: state.lastSeq }));
  });
  ws.addEventListener("message", (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    handle(msg);
  });
  ws.addEventListener("close", (ev) => {
    if (state.socket !== ws) return;
    state.socket = null;
    switch (ev.code) {
      case CLOSE_NO_SESSION:
      case CLOSE_ENDED:
        state.stopped = true;
        setConn("offline", ev.code === CLOSE_NO_SESSION ? "Signed out — reload to log in again" : "Session ended");
        return;
      case CLOSE_BAD_MESSAGE:
        state.stopped = true;
        setConn("offline", "Disconnected: " + (ev.reason || "protocol error"));
        return;
      case CLOSE_STREAMER_CHANGED: // another tab chose another streamer: show that one
        state.stopped = true;
        location.reload();
        return;
      case CLOSE_TOO_MANY: // no reconnect loop: closing other tabs and reloading is the way back
        state.stopped = true;
        setConn("offline", "Disconnected: too many tabs open — close some and reload");
        return;
      case CLOSE_SLOW:
        state.attempts = 0; // we fell behind: come straight back and catch up
        break;
    }
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (state.stopped) return;
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempts);
  const delay = Math.round(Math.random() * cap); // full jitter
  state.attempts++;
  setConn(navigator.onLine === false ? "offline" : "reconnecting", navigator.onLine === false ? "Disconnected" : "Reconnecting…");
  state.timer = setTimeout(connect, delay);
}

function handle(msg) {
  switch (msg.type) {
    case "welcome":
      state.attempts = 0;
      setConn("live", "Connected");
      break;
    case "event_updated":
      onEvent(msg);
      break;
    case "feed_status":
      renderFeeds(msg.feeds || []);
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
  renderEvent(ev, msg.seq);
  applyToHeader(ev);
}

function renderEvent(ev, seq) {
  const li = document.createElement("li");
  li.className = "event event-new";
  li.dataset.seq = String(seq);
  li.dataset.type = ev.type || "";
  const icon = document.createElement("span");
  icon.className = "event-icon";
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = ICONS[ev.type] || "•";
  const text = document.createElement("span");
  text.className = "event-text";
  text.textContent = summaryOf(ev);
  const time = document.createElement("time");
  const when = ev.time ? new Date(ev.time) : new Date();
  time.dateTime = when.toISOString();
  time.textContent = when.toLocaleTimeString();
  li.append(icon, text, time);
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  if (empty) empty.hidden = true;
}

// summaryOf is the entry's text. Twitch's stream.online carries no title: the page shows the
// title it already knows (from the page load or the last channel.update).
function summaryOf(ev) {
  const known = document.getElementById("stream-title").textContent.trim();
  if (ev.type === "stream.online" && !ev.title && known && ev.summary === "Went live") {
    return "Went live: " + known;
  }
  return ev.summary || ev.type || "event";
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  list.prepend(li);
}

function applyToHeader(ev) {
  const badge = document.getElementById("live-badge");
  const title = document.getElementById("stream-title");
  const category = document.getElementById("stream-category");
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
      if (raw.user_name) document.getElementById("streamer-name").textContent = raw.user_name;
      if (raw.description !== undefined) document.getElementById("streamer-description").textContent = raw.description;
      break;
    }
  }
}

function renderFeeds(feeds) {
  const items = feeds.map((f) => {
    const li = document.createElement("li");
    li.className = "feed";
    li.dataset.feed = f.feed;
    const name = document.createElement("span");
    name.className = "feed-name";
    name.textContent = f.name || f.feed;
    const status = document.createElement("span");
    status.className = "status status-" + f.status;
    status.textContent = f.status;
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
}

window.addEventListener("online", () => { state.attempts = 0; if (!state.socket) connect(); });
window.addEventListener("offline", () => setConn("offline", "Disconnected"));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && !state.socket && !state.stopped) { state.attempts = 0; connect(); }
});

connect();
