// Shared by every page: the session (token per tab, cookie as fallback), API calls, languages,
// times in the jurisdiction's time zone, the header bar, and the live event stream.

const TOKEN_KEY = "jingwu.token";
const LANG_KEY = "jingwu.lang";
const LANGS = ["zh-Hant", "zh-Hans", "en"];

let config = { timezone: "UTC", tile_url: null, languages: LANGS };
let messages = {};
let lang = "en";
export let me = null;

// ---- session and API -------------------------------------------------------------------------

// The token lives in sessionStorage so two windows can hold two users (call-taker and dispatcher);
// the terminal also keeps it in localStorage so the installed app survives a restart.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY + ".terminal") || "";
}

export function saveToken(value, role) {
  sessionStorage.setItem(TOKEN_KEY, value);
  if (role === "officer") localStorage.setItem(TOKEN_KEY + ".terminal", value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY + ".terminal");
}

export class ApiError extends Error {
  constructor(status, detail) {
    const text = Array.isArray(detail) ? detail.map((d) => d.message).join("; ") : String(detail || status);
    super(text);
    this.status = status;
    this.detail = detail;
  }
}

export async function api(path, { method = "GET", body, headers = {}, form } = {}) {
  const h = { Accept: "application/json", "X-Requested-With": "jingwu", ...headers };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  let payload;
  if (form) {
    payload = new URLSearchParams(form);
  } else if (body !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers: h, body: payload, credentials: "same-origin" });
  if (r.status === 204) return null;
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    if (r.status === 401 && !path.startsWith("/api/auth/")) goLogin();
    throw new ApiError(r.status, data && data.detail);
  }
  return data;
}

export function goLogin() {
  const next = encodeURIComponent(location.pathname);
  location.assign(`/?next=${next}`);
}

// The page a role starts on; null for roles with no page here (auditor, clerk, mediator, resident).
export function landingFor(role) {
  if (["commander", "admin", "analyst"].includes(role)) return "/map";
  return { call_taker: "/calltaker", dispatcher: "/console", officer: "/terminal" }[role] || null;
}

// Pages a role may open (the API enforces the data; this only hides links that would be empty).
export const PAGES = [
  { path: "/map", key: "nav.map", roles: ["commander", "dispatcher", "admin", "analyst", "call_taker"] },
  { path: "/calltaker", key: "nav.calltaker", roles: ["call_taker", "dispatcher", "commander", "admin"] },
  { path: "/console", key: "nav.console", roles: ["dispatcher", "commander", "admin"] },
  { path: "/terminal", key: "nav.terminal", roles: ["officer"] },
];

// ---- languages and times ---------------------------------------------------------------------

export function t(key, vars = {}) {
  let s = messages[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function currentLang() {
  return lang;
}

export function localName(names, fallback = "") {
  if (!names) return fallback;
  return names[lang] || names.en || Object.values(names)[0] || fallback;
}

function pickLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && LANGS.includes(saved)) return saved;
  const nav = (navigator.language || "en").toLowerCase();
  if (nav.startsWith("zh")) return nav.includes("cn") || nav.includes("hans") || nav.includes("sg") ? "zh-Hans" : "zh-Hant";
  return "en";
}

async function loadMessages(which) {
  const r = await fetch(`/static/i18n/${which}.json`);
  messages = await r.json();
  lang = which;
  document.documentElement.lang = which;
}

export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
}

export async function setLang(which) {
  localStorage.setItem(LANG_KEY, which);
  await loadMessages(which);
  translate();
  window.dispatchEvent(new CustomEvent("jingwu:lang"));
}

export function timezone() {
  return config.timezone;
}

export function uiConfig() {
  return config;
}

const formatters = {};
function fmt(kind) {
  const key = `${lang}|${kind}`;
  if (!formatters[key]) {
    const opts = kind === "time" ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }
      : { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false };
    formatters[key] = new Intl.DateTimeFormat(lang, { ...opts, timeZone: config.timezone });
  }
  return formatters[key];
}

export function fmtTime(iso) {
  return iso ? fmt("time").format(new Date(iso)) : "";
}

export function fmtDateTime(iso) {
  return iso ? fmt("datetime").format(new Date(iso)) : "";
}

export function fmtDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

// Midnight today in the jurisdiction's time zone, as epoch milliseconds.
export function startOfToday(now = Date.now()) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: config.timezone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  const offset = asUtc - Math.floor(now / 1000) * 1000;
  return Date.UTC(+parts.year, +parts.month - 1, +parts.day) - offset;
}

// ---- small DOM conveniences ------------------------------------------------------------------

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

export function toast(text, kind = "info") {
  let box = $("#toasts");
  if (!box) {
    box = el("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = el("div", { class: `toast toast-${kind}`, text });
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

// ---- page start ------------------------------------------------------------------------------

function header(title) {
  const bar = $("header.bar");
  if (!bar) return;
  bar.replaceChildren();
  if (title) document.title = `警務 jingwu · ${t(title)}`;
  bar.append(el("a", { class: "brand", href: landingFor(me?.role) || "/" }, "警務 jingwu"));
  const nav = el("nav", { "aria-label": "pages" });
  for (const p of PAGES) {
    if (!me || !p.roles.includes(me.role)) continue;
    const link = el("a", { href: p.path, "data-i18n": p.key });
    if (location.pathname === p.path) link.setAttribute("aria-current", "page");
    nav.append(link);
  }
  bar.append(nav);
  bar.append(el("span", { class: "spacer" }));
  bar.append(el("span", { id: "live-state", class: "live-state", "data-i18n": "live.connecting" }));
  const select = el("select", { id: "lang", "aria-label": "language" });
  for (const l of LANGS) select.append(el("option", { value: l, text: { "zh-Hant": "繁體", "zh-Hans": "简体", en: "EN" }[l] }));
  select.value = lang;
  select.addEventListener("change", () => setLang(select.value));
  bar.append(select);
  if (me) {
    bar.append(el("span", { class: "who", text: `${me.username} · ${me.org}` }));
    bar.append(el("button", { type: "button", class: "link", "data-i18n": "nav.logout", onclick: logout }));
  }
}

export async function logout() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* already out */ }
  clearToken();
  location.assign("/");
}

// While the browser navigates away, the page's script stops here instead of failing.
function leaving() {
  return new Promise(() => {});
}

// Loads settings, language and (unless ``anonymous``) the user; sends a stranger to the login page.
export async function start({ title, anonymous = false, roles = null } = {}) {
  try {
    config = await (await fetch("/api/ui-config")).json();
    localStorage.setItem("jingwu.config", JSON.stringify(config));
  } catch {
    config = JSON.parse(localStorage.getItem("jingwu.config") || "null") || config; // offline start
  }
  await loadMessages(pickLang());
  if (!anonymous) {
    try {
      me = await api("/api/auth/me");
      sessionStorage.setItem("jingwu.me", JSON.stringify(me));
    } catch (err) {
      const cached = sessionStorage.getItem("jingwu.me") || localStorage.getItem("jingwu.me.terminal");
      if (err instanceof ApiError || !cached) {
        goLogin();
        await leaving();
      }
      me = JSON.parse(cached); // offline start of the terminal
    }
    if (roles && !roles.includes(me.role)) {
      location.assign(landingFor(me.role) || "/");
      await leaving();
    }
  }
  header(title);
  translate();
  return me;
}

// ---- live events -----------------------------------------------------------------------------

// Opens WS /api/events and keeps it open: reconnects with back-off and calls ``onReconnect`` so the
// page can reload the state it may have missed. Messages are handed over in arrival (commit) order.
export function live(onMessage, { onReconnect, kinds } = {}) {
  let delay = 500;
  let socket = null;
  let opened = false;
  const stateEl = () => $("#live-state");
  const setState = (key, cls) => {
    const s = stateEl();
    if (!s) return;
    s.dataset.i18n = key;
    s.textContent = t(key);
    s.className = `live-state ${cls}`;
  };
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const q = new URLSearchParams();
    if (token()) q.set("token", token());
    if (kinds) q.set("kinds", kinds.join(","));
    socket = new WebSocket(`${proto}://${location.host}/api/events?${q}`);
    socket.addEventListener("message", (e) => {
      const msg = JSON.parse(e.data);
      if (msg.kind === "hello") {
        setState("live.on", "ok");
        delay = 500;
        if (opened && onReconnect) onReconnect();
        opened = true;
        return;
      }
      onMessage(msg);
    });
    socket.addEventListener("close", (e) => {
      setState("live.off", "bad");
      if (e.code === 4401) return goLogin();
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
  return () => socket && socket.close();
}
