package browsertest

// a11yJS checks accessibility basics on the current page and returns the problems found,
// each precise enough to fix (element, colours, ratio):
//   - a non-empty <title>, <html lang>, exactly one h1;
//   - every visible input/select/textarea has a label (label[for], a wrapping label,
//     aria-label or aria-labelledby that names non-empty text);
//   - every visible link and button has an accessible name; every img has alt and loaded;
//   - #events, where present, is an ARIA live region;
//   - text contrast (WCAG 2 AA): every visible element with its own text, against its
//     effective background (ancestors' background colours composited), needs 4.5:1, or
//     3:1 for large text (24px, or 18.66px bold). Text over a background image is not
//     measured; aria-hidden decoration is skipped.
const a11yJS = `(() => {
  const problems = [];
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList.length) s += "." + [...el.classList].join(".");
    const text = (el.textContent || el.value || "").trim().replace(/\s+/g, " ");
    return text ? s + ' "' + text.slice(0, 40) + '"' : s;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none" && !el.closest("[hidden]");
  };
  const named = (ids) => (ids || "").split(/\s+/).some((id) => id && document.getElementById(id)?.textContent.trim());

  if (!document.title.trim()) problems.push("the page has an empty <title>");
  if (!document.documentElement.lang) problems.push("<html> has no lang attribute");
  const h1 = document.querySelectorAll("h1");
  if (h1.length !== 1) problems.push("the page has " + h1.length + " h1 elements, want exactly 1");

  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !visible(el)) continue;
    const ok = (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')?.textContent.trim()) ||
      el.closest("label")?.textContent.trim() || el.getAttribute("aria-label")?.trim() || named(el.getAttribute("aria-labelledby"));
    if (!ok) problems.push(describe(el) + " has no label");
  }
  for (const el of document.querySelectorAll("a[href], button")) {
    if (!visible(el)) continue;
    if (!(el.textContent.trim() || el.getAttribute("aria-label")?.trim() || named(el.getAttribute("aria-labelledby")) ||
          el.querySelector("img[alt]:not([alt=''])"))) problems.push(describe(el) + " has no accessible name");
  }
  for (const img of document.images) {
    if (!img.hasAttribute("alt")) problems.push(describe(img) + " has no alt attribute");
    if (visible(img) && img.complete && img.naturalWidth === 0)
      problems.push(describe(img) + " did not load (src " + JSON.stringify((img.getAttribute("src") || "").slice(0, 48)) + ")");
  }
  const events = document.getElementById("events");
  if (events && !["polite", "assertive"].includes(events.getAttribute("aria-live")))
    problems.push("#events is not an ARIA live region (aria-live=" + events.getAttribute("aria-live") + ")");

  const parse = (c) => {
    const m = c.match(/rgba?\(([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:[ ,/]+([\d.]+)(%?))?\)/);
    if (!m) return null;
    let a = m[4] === undefined ? 1 : parseFloat(m[4]);
    if (m[5] === "%") a /= 100;
    return [parseFloat(m[1]), parseFloat(m[2]), parseFloat(m[3]), a];
  };
  const over = (top, below) => top.slice(0, 3).map((v, i) => v * top[3] + below[i] * (1 - top[3])).concat(1);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage !== "none") return null;
      const c = parse(s.backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const seen = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    if (!visible(el) || el.closest("[aria-hidden=true]") || ["SCRIPT", "STYLE", "SVG", "svg"].includes(el.tagName)) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()) && !(el.matches("textarea, input:is([type=text], [type=search], [type=email], [type=url], [type=tel], :not([type]))") && el.value)) continue;
    const s = getComputedStyle(el);
    const bg = background(el);
    const fg0 = parse(s.color);
    if (!bg || !fg0) continue;
    const fg = over(fg0, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const key = describe(el);
    if (ratio < need && !seen.has(key)) {
      seen.add(key);
      problems.push("contrast " + ratio.toFixed(2) + ":1 < " + need + ":1 for " + key + " (text " + hex(fg) + " on " + hex(bg) + ", " + size + "px)");
    }
  }
  return problems;
})()`

// checkA11y runs a11yJS on the current page and reports every problem as an error
// (without stopping the journey, so one run lists them all).
func (tb *tab) checkA11y(page string) {
	tb.t.Helper()
	for _, p := range eval[[]string](tb, "accessibility of "+page, a11yJS) {
		tb.t.Errorf("accessibility, %s page: %s", page, p)
	}
}

// logA11y runs the same checks on a page that is not twitchrelay's (the simulator's stand-in
// for Twitch's consent page) and only logs what it finds.
func (tb *tab) logA11y(page string) {
	tb.t.Helper()
	for _, p := range eval[[]string](tb, "accessibility of "+page, a11yJS) {
		tb.t.Logf("note: accessibility, %s page (not ours, not enforced): %s", page, p)
	}
}

// overflowJS reports horizontal overflow: when the page scrolls sideways, it names the
// elements that reach past the viewport.
const overflowJS = `(() => {
  const w = window.innerWidth, out = [];
  if (document.documentElement.scrollWidth <= w) return out;
  out.push("document scrollWidth " + document.documentElement.scrollWidth + " > innerWidth " + w);
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1 && !el.closest("[hidden]")) {
      let s = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.classList.length ? "." + [...el.classList].join(".") : "");
      out.push(s + " reaches x=" + Math.round(r.right) + " (viewport " + w + ")");
    }
  }
  return out.slice(0, 10);
})()`
