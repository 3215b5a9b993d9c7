// The gateway console: plain JavaScript, no build step. It uses the public API with the
// token the user gives (or passes as #token=... in the URL, which never reaches the server).
"use strict";

const $ = (id) => document.getElementById(id);
// The log keeps this many entries (and, while paused, this many waiting ones), so memory
// stays flat however long the page is open.
const MAX_LOG = 1000;
let stream = null;
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

// --- live state ---

// The chosen server's live state, as the gateway's `state` messages keep it: the snapshot,
// then updates applied by one rule that does not know the model's keys (docs/gateway.md), so
// objects the model gains need no change here. The console keeps no tracker of its own.
let live = null;
// Whether the token may read the state (the stream says 403 otherwise).
let stateReadable = true;
// When the console first saw a channel or a waiting caller (ms), for durations and waits the
// model does not give (a `created` / `joined` field in seconds since the epoch wins).
const firstSeen = new Map();

function applyStateMessage(message, arrived) {
  if (message.snapshot) {
    live = JSON.parse(JSON.stringify(message.snapshot));
  } else if (message.update && live) {
    for (const [key, value] of Object.entries(message.update)) {
      const held = live[key];
      if (value && typeof value === "object" && !Array.isArray(value) &&
          held && typeof held === "object" && !Array.isArray(held)) {
        for (const [id, entry] of Object.entries(value)) {
          if (entry === null) delete held[id]; else held[id] = entry;
        }
      } else if (value === null) {
        delete live[key];
      } else {
        live[key] = value;
      }
    }
  } else {
    return;
  }
  noteFirstSeen(arrived);
  renderState();
}

function noteFirstSeen(arrived) {
  const present = new Set();
  for (const id of Object.keys(live.channels || {})) present.add("c:" + id);
  for (const [name, queue] of Object.entries(live.queues || {})) {
    for (const caller of queue.callers || []) present.add(`q:${name}:${caller.channel}`);
  }
  for (const key of present) if (!firstSeen.has(key)) firstSeen.set(key, arrived);
  for (const key of [...firstSeen.keys()]) if (!present.has(key)) firstSeen.delete(key);
}

// Since when (ms): the model's own time if it has one, else when the console first saw it.
function since(object, field, key) {
  const own = Number(object[field]);
  if (object[field] !== undefined && Number.isFinite(own) && own > 0) return own * 1000;
  return firstSeen.get(key) || Date.now();
}

function cellOf(name, text, title) {
  const cell = document.createElement("td");
  cell.className = name;
  cell.textContent = text;
  if (title && text) cell.title = text;
  return cell;
}

function emptyRow(body, columns, text) {
  const row = document.createElement("tr");
  const cell = cellOf("empty", text);
  cell.colSpan = columns;
  row.appendChild(cell);
  body.appendChild(row);
}

const COLUMNS = [
  ["channel", (ch) => known(ch.name)],
  ["state", (ch) => known(ch.state_desc)],
  ["duration", (ch) => elapsed(Date.now() - ch.since)],
  ["caller", (ch) => party(ch.caller_id_name, ch.caller_id_num)],
  ["connected", (ch) => party(ch.connected_line_name, ch.connected_line_num)],
  ["exten", (ch) => known(ch.exten)],
  ["application", (ch) => application(ch.application, ch.application_data)],
];

// Calls grouped by bridge: each bridge with the channels in it, then the channels of each call
// that are in no bridge (ringing, in a queue, alone); newest group first.
function callGroups() {
  const channels = live.channels || {};
  const view = (id) => Object.assign({}, channels[id], { since: since(channels[id], "created", "c:" + id) });
  const groups = [];
  const placed = new Set();
  for (const [id, bridge] of Object.entries(live.bridges || {})) {
    const members = (bridge.channels || []).filter((c) => channels[c] && !placed.has(c));
    if (members.length === 0) continue;
    members.forEach((c) => placed.add(c));
    const type = known(bridge.bridge_type);
    groups.push({ kind: "bridge", title: `bridge ${id}${type ? ` (${type})` : ""}`, members: members.map(view) });
  }
  const calls = (live.calls || []).map((call) => [call.id, call.channels || []]);
  calls.push(["", Object.keys(channels)]);
  for (const [id, ids] of calls) {
    const members = ids.filter((c) => channels[c] && !placed.has(c));
    if (members.length === 0) continue;
    members.forEach((c) => placed.add(c));
    groups.push({ kind: "call", title: id ? `call ${id}, not bridged` : "not bridged", members: members.map(view) });
  }
  for (const group of groups) group.newest = Math.max(...group.members.map((m) => m.since));
  return groups.sort((a, b) => b.newest - a.newest);
}

function renderCalls() {
  const body = $("channels").querySelector("tbody");
  body.textContent = "";
  const groups = live ? callGroups() : [];
  let count = 0;
  for (const group of groups) {
    const head = document.createElement("tr");
    head.className = "group " + group.kind;
    const title = cellOf("group", group.title);
    title.colSpan = COLUMNS.length;
    head.appendChild(title);
    body.appendChild(head);
    for (const ch of group.members) {
      const row = document.createElement("tr");
      row.dataset.channel = known(ch.name);
      row.dataset.created = String(ch.since);
      for (const [name, value] of COLUMNS) row.appendChild(cellOf(name, value(ch), name !== "duration"));
      body.appendChild(row);
      count += 1;
    }
  }
  if (count === 0) emptyRow(body, COLUMNS.length, stateReadable ? "no channels" : "this token may not read the live state");
  $("channel-count").textContent = String(count);
  $("call-count").textContent = String(live ? (live.calls || []).length : 0);
}

// Asterisk's device states, as QueueStatus and the queue events give them (numbers).
const MEMBER_STATUS = ["unknown", "not in use", "in use", "busy", "invalid", "unavailable",
  "ringing", "ringing, in use", "on hold"];

function table(className, headings) {
  const element = document.createElement("table");
  element.className = className;
  const head = element.createTHead().insertRow();
  for (const heading of headings) {
    const th = document.createElement("th");
    th.textContent = heading;
    head.appendChild(th);
  }
  return [element, element.createTBody()];
}

function renderQueues() {
  const panel = $("queues");
  panel.textContent = "";
  const queues = Object.entries((live && live.queues) || {});
  let waiting = 0;
  for (const [name, queue] of queues) {
    const block = document.createElement("div");
    block.className = "queue";
    block.dataset.queue = name;
    const callers = queue.callers || [];
    const members = Object.values(queue.members || {});
    waiting += callers.length;
    const title = document.createElement("h3");
    title.append(name, " ", span("count", [known(queue.strategy), `${callers.length} waiting`,
      `${members.length} members`, `${members.filter((m) => m.paused).length} paused`].filter(Boolean).join(" · ")));
    const [callerTable, callerBody] = table("callers", ["#", "Caller", "Channel", "Wait"]);
    callers.forEach((caller, index) => {
      const row = callerBody.insertRow();
      row.dataset.caller = known(caller.channel);
      const joined = since(caller, "joined", `q:${name}:${caller.channel}`);
      row.dataset.created = String(joined);
      row.append(cellOf("position", String(index + 1)),
        cellOf("caller", party(caller.caller_id_name, caller.caller_id_num), true),
        cellOf("channel", known(caller.channel), true),
        cellOf("duration", elapsed(Date.now() - joined)));
    });
    if (callers.length === 0) emptyRow(callerBody, 4, "no callers waiting");
    const [memberTable, memberBody] = table("members", ["Member", "Interface", "Status", "Paused", "Calls", "In call"]);
    for (const member of members) {
      const row = memberBody.insertRow();
      row.dataset.member = known(member.interface);
      const paused = member.paused ? ("paused" + (known(member.paused_reason) ? ` (${known(member.paused_reason)})` : "")) : "";
      row.append(cellOf("name", known(member.name), true), cellOf("interface", known(member.interface), true),
        cellOf("member-status", MEMBER_STATUS[member.status] || String(member.status ?? "")),
        cellOf("paused", paused), cellOf("calls", String(member.calls_taken ?? "")),
        cellOf("in-call", member.in_call ? "yes" : ""));
      if (member.paused) row.classList.add("paused");
    }
    if (members.length === 0) emptyRow(memberBody, 6, "no members");
    block.append(title, callerTable, memberTable);
    panel.appendChild(block);
  }
  if (queues.length === 0) {
    const none = document.createElement("p");
    none.className = "empty";
    none.textContent = live ? "no queues" : (stateReadable ? "waiting for the state" : "this token may not read the live state");
    panel.appendChild(none);
  }
  $("queue-count").textContent = `${queues.length} queues, ${waiting} waiting`;
}

// Agents as the state model keeps them: a table of their fields, whatever they are.
function renderAgents() {
  const panel = $("agents");
  panel.textContent = "";
  const agents = live && live.agents;
  if (!agents || typeof agents !== "object") {
    const none = document.createElement("p");
    none.className = "empty";
    none.textContent = live ? "the gateway's state model keeps no agents" : "";
    panel.appendChild(none);
    $("agent-count").textContent = "0";
    return;
  }
  const list = Array.isArray(agents) ? agents : Object.entries(agents).map(([id, a]) => Object.assign({ id }, a));
  const fields = [...new Set(list.flatMap((a) => Object.keys(a).filter((k) => typeof a[k] !== "object" || a[k] === null)))];
  const [element, body] = table("agents", fields);
  for (const agent of list) {
    const row = body.insertRow();
    for (const field of fields) row.appendChild(cellOf(field, known(agent[field]), true));
  }
  if (list.length === 0) emptyRow(body, Math.max(1, fields.length), "no agents");
  panel.appendChild(element);
  $("agent-count").textContent = String(list.length);
}

function renderState() {
  renderCalls();
  renderQueues();
  renderAgents();
}

function tickDurations() {
  const now = Date.now();
  for (const row of document.querySelectorAll("tr[data-created]")) {
    const cell = row.querySelector("td.duration");
    if (cell) cell.textContent = elapsed(now - Number(row.dataset.created));
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
  } else if (message.type === "state") {
    applyStateMessage(message, arrived);
  } else if (message.type === "connection") {
    setStatus(`${message.server} ${message.state}`, message.state);
    addLog({ kind: "connection", arrived, text: `${message.server} ${message.state}` });
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
  live = null;
  firstSeen.clear();
  // backlog: the recent activity shows at once, before live events; state: the live state
  // (a snapshot, then updates) drives the panels.
  const query = (withState) => "/v1/events?backlog=100" + (withState ? "&state=1" : "") +
    "&server=" + encodeURIComponent(server);
  const open = (withState) => fetch(query(withState), {
    headers: { "Authorization": "Bearer " + token() },
    signal: stream.signal,
  });
  let response = await open(true);
  stateReadable = response.status !== 403;
  // A token whose event classes do not cover the state still gets its events.
  if (!stateReadable) response = await open(false);
  renderState();
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
  renderState();
  setInterval(tickDurations, 1000);
  if (token()) connectOrSay();
}

init();
