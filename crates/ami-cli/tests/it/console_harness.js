// Test harness for the gateway console, loaded by tests/it/gateway.rs after console.js in a
// copy of the console's index.html opened from a file (no gateway, no token: the console does
// not connect). It drives the console's own functions and buttons with fixed events and writes
// what the page then shows into <pre id="harness-results"> as JSON, for the Rust test to check.
"use strict";

(function harness() {
  const results = {};
  const out = document.createElement("pre");
  out.id = "harness-results";
  document.body.appendChild(out);
  const write = () => { out.textContent = JSON.stringify(results); };
  const logTexts = () => [...$("log").children].map((li) => {
    const summary = li.querySelector("summary");
    return summary ? summary.textContent : li.textContent;
  });
  const event = (fields) => ({ type: "event", server: "pbx", event: fields });
  try {
    // Summaries: the story-telling headers, "<unknown>" left out.
    const story = [
      { Event: "Newchannel", Channel: "PJSIP/alice-00000001", ChannelStateDesc: "Down",
        CallerIDNum: "100", CallerIDName: "Alice", ConnectedLineNum: "<unknown>",
        ConnectedLineName: "<unknown>", Context: "internal", Exten: "200", Uniqueid: "1.1" },
      { Event: "Newexten", Channel: "PJSIP/alice-00000001", ChannelStateDesc: "Ring",
        CallerIDNum: "100", CallerIDName: "Alice", Context: "internal", Exten: "200",
        Application: "Dial", AppData: "PJSIP/bob,30", Uniqueid: "1.1" },
      { Event: "DialEnd", Channel: "PJSIP/alice-00000001", DestChannel: "PJSIP/bob-00000002",
        DialStatus: "ANSWER", Uniqueid: "1.1" },
      { Event: "NewConnectedLine", Channel: "PJSIP/alice-00000001", ConnectedLineNum: "200",
        ConnectedLineName: "Bob", Uniqueid: "1.1" },
      { Event: "Hangup", Channel: "PJSIP/bob-00000002", "Cause-txt": "Normal Clearing",
        Cause: "16", Uniqueid: "1.2" },
      { Event: "QueueCallerJoin", Channel: "PJSIP/carol-00000003", Queue: "support",
        CallerIDNum: "300", CallerIDName: "<unknown>" },
      { Event: "OriginateResponse", Channel: "Local/300@demo", Application: "Wait",
        Data: "5", Response: "Failure" },
    ];
    for (const fields of story) handleMessage(event(fields));
    results.summaries = logTexts().reverse();
    const first = $("log").lastElementChild;
    results.first = {
      time: first.querySelector("summary time").textContent,
      // The same instant as the local wall clock reads it, to compare with `time`.
      local: new Date(first.querySelector("summary time").dateTime).toTimeString().slice(0, 8),
      json: JSON.parse(first.querySelector("details > pre.json").textContent),
      open: first.querySelector("details").open,
    };

    // The channel table, driven by the live state: a snapshot (Dave's channel, 65 s old by
    // the model's own clock, and Alice's new one), then updates (Alice dials Bob: her channel
    // changes, Bob's comes and goes); the calls grouped by bridge.
    const state = (fields) => Object.assign({ type: "state", server: "pbx" }, fields);
    const channel = (fields) => Object.assign({ linkedid: null, state: 0, caller_id_num: "",
      caller_id_name: "", connected_line_num: "", connected_line_name: "", context: "",
      exten: "", priority: "1", application: "", application_data: "", bridge: null }, fields);
    const dave = channel({ name: "PJSIP/dave-00000004", uniqueid: "1.4", state_desc: "Up",
      caller_id_num: "400", caller_id_name: "Dave", connected_line_num: "500",
      connected_line_name: "<unknown>", exten: "500", application: "Queue",
      application_data: "support,,,,30", bridge: "b-1",
      created: Date.now() / 1000 - 65 });
    const alice = channel({ name: "PJSIP/alice-00000001", uniqueid: "1.1", state_desc: "Down",
      caller_id_num: "100", caller_id_name: "Alice", context: "internal", exten: "200" });
    // The durations are read 2.5 s after this, however long the rest of the harness takes.
    const seeded = performance.now();
    handleMessage(state({ snapshot: {
      channels: { "1.4": dave, "1.1": alice },
      calls: [{ id: "1.4", channels: ["1.4"] }, { id: "1.1", channels: ["1.1"] }],
      bridges: { "b-1": { id: "b-1", bridge_type: "basic", channels: ["1.4"] } },
      queues: { support: { name: "support", strategy: "ringall", completed: 0, abandoned: 0,
        members: {
          "PJSIP/erin": { interface: "PJSIP/erin", name: "Erin", status: 1, paused: true,
            paused_reason: "lunch", penalty: 0, calls_taken: 3, in_call: false, membership: "static" },
          "PJSIP/fred": { interface: "PJSIP/fred", name: "Fred", status: 2, paused: false,
            paused_reason: "", penalty: 0, calls_taken: 5, in_call: true, membership: "dynamic" },
        },
        callers: [{ channel: "PJSIP/carol-00000003", uniqueid: "1.3", caller_id_num: "300",
          caller_id_name: "Carol" }] } },
    } }));
    const bob = channel({ name: "PJSIP/bob-00000002", uniqueid: "1.2", state_desc: "Ringing" });
    handleMessage(state({ update: { channels: { "1.2": bob },
      calls: [{ id: "1.4", channels: ["1.4"] }, { id: "1.1", channels: ["1.1", "1.2"] }] } }));
    handleMessage(state({ update: { channels: { "1.2": null, "1.1": Object.assign({}, alice, {
      state_desc: "Ring", connected_line_num: "200", connected_line_name: "Bob",
      application: "Dial", application_data: "PJSIP/bob,30" }) },
      calls: [{ id: "1.4", channels: ["1.4"] }, { id: "1.1", channels: ["1.1"] }] } }));
    results.groups = [...$("channels").querySelectorAll("tbody tr.group")].map((tr) => tr.textContent);
    results.queues = [...$("queues").querySelectorAll(".queue")].map((q) => ({
      title: q.querySelector("h3").textContent,
      callers: [...q.querySelectorAll("table.callers tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent)),
      members: [...q.querySelectorAll("table.members tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent)),
    }));
    results.agents = $("agents").textContent;
    const rows = () => Object.fromEntries([...$("channels").querySelectorAll("tbody tr[data-channel]")]
      .map((tr) => [tr.dataset.channel, [...tr.cells].map((td) => td.textContent)]));
    results.columns = [...$("channels").querySelectorAll("thead th")].map((th) => th.textContent);
    results.rows = rows();

    // Pause: arrivals are counted, not shown; resume shows them; clear empties the log.
    const shownBefore = $("log-count").textContent;
    $("log-pause").click();
    handleMessage(event({ Event: "UserEvent", UserEvent: "WhilePaused1" }));
    handleMessage(event({ Event: "UserEvent", UserEvent: "WhilePaused2" }));
    results.paused = {
      button: $("log-pause").textContent,
      pressed: $("log-pause").getAttribute("aria-pressed"),
      entries: $("log").childElementCount,
      shown: $("log-count").textContent,
      shownBefore,
    };
    $("log-pause").click();
    results.resumed = {
      button: $("log-pause").textContent,
      entries: $("log").childElementCount,
      newest: logTexts()[0],
    };
    // The filter hides what does not match and counts what it shows.
    $("log-filter").value = "whilepaused";
    $("log-filter").dispatchEvent(new Event("input"));
    results.filtered = {
      shown: $("log-count").textContent,
      visible: $("log").querySelectorAll("li:not(.hidden)").length,
    };
    $("log-filter").value = "";
    $("log-filter").dispatchEvent(new Event("input"));
    $("log-clear").click();
    results.cleared = { entries: $("log").childElementCount, shown: $("log-count").textContent };

    // The bound: 1200 events leave 1000 entries, the newest.
    for (let i = 0; i < 1200; i++) handleMessage(event({ Event: "UserEvent", UserEvent: `Flood${i}` }));
    results.bounded = { entries: $("log").childElementCount, newest: logTexts()[0],
      oldest: logTexts()[$("log").childElementCount - 1] };

    // Durations tick: 2.5 s later (virtual time; later under load) the seeded 1:05 reads 1:07.
    setTimeout(() => {
      results.later = rows();
      results.done = true;
      write();
    }, Math.max(0, 2500 - (performance.now() - seeded)));
  } catch (error) {
    results.error = String(error && error.stack || error);
  }
  write();
})();
