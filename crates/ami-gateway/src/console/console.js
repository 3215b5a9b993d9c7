// The gateway console: plain JavaScript, no build step. It uses the public API with the
// token the user gives (or passes as #token=... in the URL, which never reaches the server).
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_LOG = 500;
let stream = null;
const channels = new Map();

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

function renderChannels() {
  const body = $("channels").querySelector("tbody");
  body.textContent = "";
  const sorted = [...channels.values()].sort((a, b) => a.Channel.localeCompare(b.Channel));
  for (const ch of sorted) {
    const row = document.createElement("tr");
    row.dataset.channel = ch.Channel;
    for (const key of ["Channel", "ChannelStateDesc", "CallerIDNum", "Exten"]) {
      const cell = document.createElement("td");
      cell.textContent = typeof ch[key] === "string" ? ch[key] : "";
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  $("channel-count").textContent = String(channels.size);
}

function applyEvent(event) {
  const name = event.Event;
  const key = event.Uniqueid || event.UniqueID || event.Channel;
  if (!key) return;
  if (name === "Newchannel" || name === "CoreShowChannel") {
    channels.set(key, Object.assign(channels.get(key) || {}, event));
  } else if (name === "Newstate" || name === "NewCallerid" || name === "Newexten") {
    if (channels.has(key)) channels.set(key, Object.assign(channels.get(key), event));
  } else if (name === "Hangup") {
    channels.delete(key);
  } else {
    return;
  }
  renderChannels();
}

function logLine(kind, text) {
  const log = $("log");
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  const filter = $("log-filter").value.trim().toLowerCase();
  if (filter && !text.toLowerCase().includes(filter)) item.classList.add("hidden");
  log.insertBefore(item, log.firstChild);
  while (log.childElementCount > MAX_LOG) log.removeChild(log.lastChild);
  $("log-count").textContent = String(log.querySelectorAll("li:not(.hidden)").length);
}

function applyFilter() {
  const filter = $("log-filter").value.trim().toLowerCase();
  for (const item of $("log").children) {
    item.classList.toggle("hidden", filter !== "" && !item.textContent.toLowerCase().includes(filter));
  }
  $("log-count").textContent = String($("log").querySelectorAll("li:not(.hidden)").length);
}

function handleMessage(message) {
  if (message.type === "event") {
    const e = message.event;
    logLine("event", `${message.server} ${e.Event} ${e.Channel || ""} ${JSON.stringify(e)}`);
    applyEvent(e);
  } else if (message.type === "connection") {
    setStatus(`${message.server} ${message.state}`, message.state);
    logLine("connection", `${message.server} ${message.state}`);
    if (message.state === "connected") loadChannels();
  } else if (message.type === "lagged") {
    logLine("lagged", `missed ${message.missed} events`);
  } else if (message.type === "closing") {
    logLine("closing", `stream closing: ${message.reason}`);
  } else if (message.type === "hello") {
    logLine("hello", `subscribed to ${message.servers.join(", ")}`);
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
  channels.clear();
  for (const item of reply.json.items || []) applyEvent(item);
  renderChannels();
}

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
  const reply = await api("POST", `/v1/servers/${encodeURIComponent(server)}/actions/${encodeURIComponent(name)}`, headers);
  $("action-result").textContent = `HTTP ${reply.status}\n` + JSON.stringify(reply.json, null, 2);
}

function init() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    sessionStorage.setItem("amikit-token", fromUrl);
    history.replaceState(null, "", location.pathname);
  }
  $("token").value = sessionStorage.getItem("amikit-token") || "";
  $("connect").addEventListener("click", connect);
  $("server").addEventListener("change", connect);
  $("action-form").addEventListener("submit", sendAction);
  $("log-filter").addEventListener("input", applyFilter);
  if (token()) connect();
}

init();
