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

    // The channel table: a seeded channel (Duration from CoreShowChannel), then live events.
    seedChannel({ Event: "CoreShowChannel", Channel: "PJSIP/dave-00000004", Uniqueid: "1.4",
      ChannelStateDesc: "Up", CallerIDNum: "400", CallerIDName: "Dave", ConnectedLineNum: "500",
      ConnectedLineName: "<unknown>", Exten: "500", Application: "Queue",
      ApplicationData: "support,,,,30", Duration: "00:01:05" }, Date.now());
    renderChannels();
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

    // Durations tick: 2.5 s later (virtual time) the seeded 1:05 reads 1:07.
    setTimeout(() => {
      results.later = rows();
      results.done = true;
      write();
    }, 2500);
  } catch (error) {
    results.error = String(error && error.stack || error);
  }
  write();
})();
