// The gateway console: plain JavaScript, no build step. It uses the public API with the
// token the user gives (or passes as #token=... in the URL, which never reaches the server).
"use strict";

const $ = (id) => document.getElementById(id);
// The log keeps this many entries (and, while paused, this many waiting ones), so memory
// stays flat however long the page is open.
const MAX_LOG = 1000;
let stream = null;
// Channels by Uniqueid: the latest headers seen, plus `created` (ms since the epoch).
const channels = new Map();
const log = { paused: false, waiting: [], arrivedWhilePaused: 0, shown: 0 };

function token() { return $("token").value.trim(); }

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try { json = JSON.parse(text); } catch (_) { json = { raw: text }; }
  return { status: response.status, json };
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status " + (kind || "");
}

// --- formatting (pure functions) ---

const pad = (n, width) => String(n).padStart(width || 2, "0");

// HH:MM:SS.mmm, local time.
function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// H:MM:SS of a duration in milliseconds.
function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

// A header value worth showing: a non-empty string other than Asterisk's "<unknown>".
function known(value) {
  if (value === undefined || value === null) return "";
  const text = Array.isArray(value) ? value.join(", ") : String(value);
  return text === "<unknown>" ? "" : text;
}

// "Alice <100>", "Alice", "100" or "".
function party(name, num) {
  const n = known(name);
  const u = known(num);
  if (n && u && n !== u) return `${n} <${u}>`;
  return n || u;
}

// "Wait(120)", "Hangup()" or "".
function application(app, data) {
  const a = known(app);
  return a ? `${a}(${known(data)})` : "";
}

// Seconds a CoreShowChannel says the channel has existed: `Duration` (HH:MM:SS) or `Seconds`.
function ageSeconds(item) {
  const seconds = Number(known(item.Seconds));
  if (known(item.Seconds) && Number.isFinite(seconds)) return seconds;
  const parts = known(item.Duration).split(":").map(Number);
  if (parts.length === 0 || parts.some((p) => !Number.isFinite(p))) return 0;
  return parts.reduce((total, p) => total * 60 + p, 0);
}

// The parts of an event's one-line summary, in reading order: [label, value, headers].
function summarize(e) {
  const parts = [];
  const add = (label, value, headers) => { if (value) parts.push([label, value, headers]); };
  add("", known(e.Channel), "Channel");
  add("→", known(e.DestChannel) || known(e.DestinationChannel), "DestChannel");
  add("", known(e.ChannelStateDesc) || known(e.DestChannelStateDesc), "ChannelStateDesc");
  add("caller", party(e.CallerIDName, e.CallerIDNum) || party(e.DestCallerIDName, e.DestCallerIDNum),
    "CallerIDName <CallerIDNum>");
  add("connected", party(e.ConnectedLineName, e.ConnectedLineNum), "ConnectedLineName <ConnectedLineNum>");
  const exten = known(e.Exten) || known(e.DestExten);
  const context = known(e.Context) || known(e.DestContext);
  add("exten", exten && context ? `${exten}@${context}` : exten, "Exten@Context");
  // Newexten says AppData, CoreShowChannel ApplicationData, OriginateResponse Data.
  const data = [e.AppData, e.ApplicationData, e.Data].find((d) => d !== undefined);
  add("app", application(e.Application, data), "Application(AppData)");
  add("dial", known(e.DialString), "DialString");
  add("status", known(e.DialStatus), "DialStatus");
  add("cause", known(e["Cause-txt"]), "Cause-txt");
  add("queue", known(e.Queue), "Queue");
  add("member", known(e.MemberName), "MemberName");
  add("", e.Variable !== undefined ? `${known(e.Variable)}=${known(e.Value)}` : "", "Variable=Value");
  add("", known(e.UserEvent), "UserEvent");
  add("device", known(e.Device), "Device");
  add("state", known(e.State), "State");
  add("peer", known(e.Peer), "Peer");
  add("status", known(e.PeerStatus), "PeerStatus");
  add("disposition", known(e.Disposition), "Disposition");
  add("response", known(e.Response), "Response");
  add("", known(e.Message), "Message");
  return parts;
}

// --- channels ---

function seedChannel(item, arrived) {
  const key = item.Uniqueid || item.UniqueID || item.Channel;
  if (!key) return;
  const channel = Object.assign(channels.get(key) || {}, item);
  channel.created = arrived - ageSeconds(item) * 1000;
  channels.set(key, channel);
}

function applyEvent(event, arrived) {
  const name = event.Event;
  const key = event.Uniqueid || event.UniqueID || event.Channel;
  if (!key) return;
  const channel = channels.get(key);
  if (name === "Newchannel") {
    channels.set(key, Object.assign(channel || { created: arrived }, event));
  } else if (name === "Newstate" || name === "NewCallerid" || name === "NewConnectedLine" || name === "Newexten") {
    if (!channel) return;
    Object.assign(channel, event);
    if (name === "Newexten") channel.ApplicationData = event.AppData;
  } else if (name === "Hangup") {
    if (!channels.delete(key)) return;
  } else {
    return;
  }
  renderChannels();
}

const COLUMNS = [
  ["channel", (ch) => known(ch.Channel)],
  ["state", (ch) => known(ch.ChannelStateDesc)],
  ["duration", (ch) => elapsed(Date.now() - ch.created)],
  ["caller", (ch) => party(ch.CallerIDName, ch.CallerIDNum)],
  ["connected", (ch) => party(ch.ConnectedLineName, ch.ConnectedLineNum)],
  ["exten", (ch) => known(ch.Exten)],
  ["application", (ch) => application(ch.Application, ch.ApplicationData)],
];

function renderChannels() {
  const body = $("channels").querySelector("tbody");
  body.textContent = "";
  // Newest first, so a new call shows without scrolling; the halves of a call stay together.
  const sorted = [...channels.values()].sort((a, b) =>
    (b.created - a.created) || known(a.Channel).localeCompare(known(b.Channel)));
  for (const ch of sorted) {
    const row = document.createElement("tr");
    row.dataset.channel = known(ch.Channel);
    row.dataset.created = String(ch.created);
    for (const [name, value] of COLUMNS) {
      const cell = document.createElement("td");
      cell.className = name;
      cell.textContent = value(ch);
      if (cell.textContent && name !== "duration") cell.title = cell.textContent;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  if (sorted.length === 0) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = COLUMNS.length;
    cell.className = "empty";
    cell.textContent = "no channels";
    row.appendChild(cell);
    body.appendChild(row);
  }
  $("channel-count").textContent = String(channels.size);
}

function tickDurations() {
  const now = Date.now();
  for (const row of $("channels").querySelectorAll("tbody tr[data-created]")) {
    row.querySelector("td.duration").textContent = elapsed(now - Number(row.dataset.created));
  }
}

// --- event log ---

function matchesFilter(item) {
  const filter = $("log-filter").value.trim().toLowerCase();
  return filter === "" || item.textContent.toLowerCase().includes(filter);
}

function span(className, text, title) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  if (title) element.title = title;
  return element;
}

// One <li>: the arrival time and a one-line summary; an AMI event opens to its full JSON.
function buildEntry(entry) {
  const item = document.createElement("li");
  item.className = entry.kind;
  const time = document.createElement("time");
  time.dateTime = new Date(entry.arrived).toISOString();
  time.textContent = clock(entry.arrived);
  if (entry.kind !== "event") {
    item.append(time, " ", span("text", entry.text));
    return item;
  }
  const event = entry.event;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.append(time, " ", span("name", known(event.Event) || "(no Event header)"));
  for (const [label, value, headers] of summarize(event)) {
    const part = span("part", "", headers);
    if (label) part.append(span("label", label), " ");
    part.append(value);
    summary.append(" ", part);
  }
  const json = document.createElement("pre");
  json.className = "json";
  json.textContent = JSON.stringify(event, null, 2);
  details.append(summary, json);
  item.dataset.server = entry.server;
  item.appendChild(details);
  return item;
}

function showEntry(entry) {
  const list = $("log");
  const item = buildEntry(entry);
  if (!matchesFilter(item)) item.classList.add("hidden");
  else log.shown += 1;
  list.insertBefore(item, list.firstChild);
  while (list.childElementCount > MAX_LOG) {
    if (!list.lastChild.classList.contains("hidden")) log.shown -= 1;
    list.removeChild(list.lastChild);
  }
}

function updateLogControls() {
  $("log-count").textContent = String(log.shown);
  const pause = $("log-pause");
  pause.setAttribute("aria-pressed", String(log.paused));
  pause.classList.toggle("paused", log.paused);
  pause.textContent = log.paused ? `Resume (${log.arrivedWhilePaused} new)` : "Pause";
}

function addLog(entry) {
  entry.arrived = entry.arrived || Date.now();
  if (log.paused) {
    log.arrivedWhilePaused += 1;
    log.waiting.push(entry);
    if (log.waiting.length > MAX_LOG) log.waiting.shift();
  } else {
    showEntry(entry);
  }
  updateLogControls();
}

function togglePause() {
  log.paused = !log.paused;
  if (!log.paused) {
    for (const entry of log.waiting) showEntry(entry);
    log.waiting = [];
    log.arrivedWhilePaused = 0;
  }
  updateLogControls();
}

function clearLog() {
  $("log").textContent = "";
  log.waiting = [];
  log.arrivedWhilePaused = 0;
  log.shown = 0;
  updateLogControls();
}

function applyFilter() {
  log.shown = 0;
  for (const item of $("log").children) {
    const shown = matchesFilter(item);
    item.classList.toggle("hidden", !shown);
    if (shown) log.shown += 1;
  }
  updateLogControls();
}

function handleMessage(message) {
  const arrived = Date.now();
  if (message.type === "event") {
    addLog({ kind: "event", arrived, server: message.server, event: message.event });
    applyEvent(message.event, arrived);
  } else if (message.type === "connection") {
    setStatus(`${message.server} ${message.state}`, message.state);
    addLog({ kind: "connection", arrived, text: `${message.server} ${message.state}` });
    if (message.state === "connected") loadChannels().catch(unreachable);
  } else if (message.type === "lagged") {
    addLog({ kind: "lagged", arrived, text: `missed ${message.missed} events` });
  } else if (message.type === "closing") {
    addLog({ kind: "closing", arrived, text: `stream closing: ${message.reason}` });
  } else if (message.type === "hello") {
    addLog({ kind: "hello", arrived, text: `subscribed to ${message.servers.join(", ")}` });
  }
}

// EventSource cannot send an Authorization header, so the SSE stream is read with fetch.
async function openStream(server) {
  if (stream) stream.abort();
  stream = new AbortController();
  // backlog: the recent activity shows at once, before live events.
  const response = await fetch("/v1/events?backlog=100&server=" + encodeURIComponent(server), {
    headers: { "Authorization": "Bearer " + token() },
    signal: stream.signal,
  });
  if (!response.ok) {
    setStatus(`events: HTTP ${response.status}`, "disconnected");
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data) {
        try { handleMessage(JSON.parse(data)); } catch (_) { /* keep-alive comments */ }
      }
    }
  }
  setStatus("stream ended", "disconnected");
}

async function loadChannels() {
  const server = $("server").value;
  if (!server) return;
  const reply = await api("POST", `/v1/servers/${encodeURIComponent(server)}/actions/CoreShowChannels`, {});
  if (reply.status !== 200) return;
  const arrived = Date.now();
  channels.clear();
  for (const item of reply.json.items || []) {
    if (item.Event === "CoreShowChannel") seedChannel(item, arrived);
  }
  renderChannels();
}

// A fetch that failed without an HTTP status: the gateway is down or the network is.
function unreachable(error) {
  setStatus(`gateway unreachable (${error.message})`, "disconnected");
}

function connectOrSay() { connect().catch(unreachable); }

async function connect() {
  sessionStorage.setItem("amikit-token", token());
  const reply = await api("GET", "/v1/servers");
  if (reply.status !== 200) {
    setStatus(`HTTP ${reply.status}: ${(reply.json.error || {}).message || ""}`, "disconnected");
    return;
  }
  const select = $("server");
  const current = select.value;
  select.textContent = "";
  for (const server of reply.json.servers) {
    const option = document.createElement("option");
    option.value = server.name;
    option.textContent = `${server.name} (${server.state}, AMI ${server.ami_version || "?"})`;
    select.appendChild(option);
  }
  if (current) select.value = current;
  const chosen = reply.json.servers.find((s) => s.name === select.value);
  if (!chosen) { setStatus("no server", "disconnected"); return; }
  setStatus(`${chosen.name} ${chosen.state}`, chosen.state);
  await loadChannels();
  openStream(chosen.name).catch((error) => {
    if (error.name !== "AbortError") setStatus("stream error", "disconnected");
  });
}

async function sendAction(event) {
  event.preventDefault();
  let headers;
  try { headers = JSON.parse($("action-headers").value || "{}"); } catch (error) {
    $("action-result").textContent = "headers are not valid JSON: " + error.message;
    return;
  }
  const name = $("action-name").value.trim();
  const server = $("server").value;
  try {
    const reply = await api("POST", `/v1/servers/${encodeURIComponent(server)}/actions/${encodeURIComponent(name)}`, headers);
    $("action-result").textContent = `HTTP ${reply.status}\n` + JSON.stringify(reply.json, null, 2);
  } catch (error) {
    $("action-result").textContent = "the gateway did not answer: " + error.message;
  }
}

function init() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    sessionStorage.setItem("amikit-token", fromUrl);
    history.replaceState(null, "", location.pathname);
  }
  $("token").value = sessionStorage.getItem("amikit-token") || "";
  $("connect").addEventListener("click", connectOrSay);
  $("server").addEventListener("change", connectOrSay);
  $("action-form").addEventListener("submit", sendAction);
  $("log-filter").addEventListener("input", applyFilter);
  $("log-pause").addEventListener("click", togglePause);
  $("log-clear").addEventListener("click", clearLog);
  renderChannels();
  setInterval(tickDurations, 1000);
  if (token()) connectOrSay();
}

init();
