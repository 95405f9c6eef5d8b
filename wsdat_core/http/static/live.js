// The live page of `wsdat run --http`: one panel per DAT, drawn at once from the snapshot the page was served with,
// then updated by Server-Sent Events from /events.
// Everything that comes from a DAT (messages, errors, names) is put on the page with textContent, never as HTML.
"use strict";

const panels = new Map();
let keepRows = 100;
let keepLines = 50;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function api(name, action) {
  return "api/dats/" + encodeURIComponent(name) + "/" + action;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
  return data;
}

function buildPanel(name) {
  const root = el("section", "panel");
  root.dataset.dat = name;
  const head = el("div", "panel-head");
  const title = el("h2", "name", name);
  const state = el("span", "state");
  const url = el("span", "url");
  head.append(title, state, url);
  const error = el("div", "error");
  const dropped = el("div", "dropped");
  dropped.hidden = true;

  const body = el("div", "panel-body");
  const tableBox = el("div", "table-box");
  const table = el("table", "rows");
  const thead = el("thead");
  const tbody = el("tbody");
  table.append(thead, tbody);
  tableBox.append(table);

  const infoBox = el("div", "info-box");
  const infoTable = el("dl", "info");
  infoBox.append(el("h3", null, "info channels"), infoTable);
  const monitorBox = el("div", "monitor-box");
  const lines = el("div", "lines");
  monitorBox.append(el("h3", null, "monitor"), lines);
  const extra = el("div", "panel-extra");
  extra.append(infoBox, monitorBox);
  body.append(tableBox);

  const form = el("form", "send-box");
  const input = el("input", "send-text");
  input.type = "text";
  input.placeholder = "message to send";
  input.setAttribute("aria-label", "message to send to " + name);
  const binaryLabel = el("label", "binary");
  const binary = el("input");
  binary.type = "checkbox";
  binaryLabel.append(binary, document.createTextNode(" binary (base64)"));
  const sendButton = el("button", "send", "Send");
  sendButton.type = "submit";
  const clearButton = el("button", "clear", "Clear table");
  clearButton.type = "button";
  const result = el("span", "result");
  form.append(input, binaryLabel, sendButton, clearButton, result);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = binary.checked ? {binary: input.value.trim()} : {text: input.value};
    result.className = "result";
    result.textContent = "sending\u2026";
    try {
      const answer = await post(api(name, "send"), body);
      result.textContent = "sent " + answer.sent + " bytes";
      input.value = "";
    } catch (err) {
      result.className = "result result-error";
      result.textContent = err.message;
    }
  });
  clearButton.addEventListener("click", async () => {
    try {
      await post(api(name, "par"), {clear: true});
      tbody.replaceChildren();
    } catch (err) {
      result.className = "result result-error";
      result.textContent = err.message;
    }
  });

  root.append(head, error, dropped, body, form, extra);
  const panel = {root, state, url, error, dropped, droppedCount: 0, thead, tbody, tableBox, infoTable, lines,
                 heading: null};
  panels.set(name, panel);
  return panel;
}

function setHeading(panel, heading) {
  const key = JSON.stringify(heading);
  if (panel.heading === key) return;
  panel.heading = key;
  const row = el("tr");
  row.append(el("th", "seq", "#"));
  for (const name of heading) row.append(el("th", null, name));
  panel.thead.replaceChildren(row);
}

function addRows(panel, rows) {
  const box = panel.tableBox;
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  const fragment = document.createDocumentFragment();
  for (const [seq, ...cells] of rows) {
    const row = el("tr");
    row.append(el("td", "seq", seq));
    for (const cell of cells) row.append(el("td", "cell", cell));
    fragment.append(row);
  }
  panel.tbody.append(fragment);
  trimRows(panel, keepRows);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function trimRows(panel, most) {
  while (panel.tbody.rows.length > most) panel.tbody.deleteRow(0);
}

function addLines(panel, lines) {
  for (const [, stamp, text] of lines) {
    const line = el("div", "line");
    line.append(el("time", null, new Date(stamp * 1000).toLocaleTimeString()), document.createTextNode(" " + text));
    panel.lines.append(line);
  }
  while (panel.lines.childElementCount > keepLines) panel.lines.firstElementChild.remove();
  panel.lines.scrollTop = panel.lines.scrollHeight;
}

function formatValue(value) {
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(3);
  return String(value);
}

function setInfo(panel, info) {
  const items = [];
  for (const [channel, value] of Object.entries(info)) {
    items.push(el("dt", null, channel), el("dd", null, formatValue(value)));
  }
  panel.infoTable.replaceChildren(...items);
}

// "reconnecting: attempt 3 in 4 s" while a DAT waits to retry; its state otherwise.
function stateText(status) {
  if (!status.active) return "inactive";
  if (status.state !== "reconnecting" || !status.retry_attempt) return status.state;
  const left = Math.max(0, Math.round(status.retry_at - Date.now() / 1000));
  return "reconnecting: attempt " + status.retry_attempt + " in " + left + " s";
}

function setStatus(panel, status) {
  panel.status = status;
  panel.state.textContent = stateText(status);
  panel.state.className = "state state-" + (status.active ? status.state : "inactive") +
    (status.stalled ? " state-stalled" : "");
  panel.url.textContent = status.url;
  panel.error.textContent = status.connected ? "" : status.last_error;
  panel.error.hidden = status.connected || !status.last_error;
  setHeading(panel, status.heading);
  trimRows(panel, Math.max(0, status.num_rows - 1)); // the table was cleared or clamped tighter
}

function markDropped(panel, count) {
  panel.droppedCount += count;
  panel.dropped.hidden = false;
  panel.dropped.textContent = panel.droppedCount + " update(s) dropped: this page fell behind the DAT, " +
    "the newest rows are shown";
}

function apply(panel, change) {
  if (change.status) setStatus(panel, change.status);
  if (change.info) setInfo(panel, change.info);
  if (change.rows) addRows(panel, change.rows);
  if (change.lines) addLines(panel, change.lines);
  if (change.dropped) markDropped(panel, change.dropped);
}

function snapshot(data) {
  keepRows = data.keep_rows;
  keepLines = data.keep_lines;
  document.getElementById("service").textContent = data.service;
  document.title = data.service + " \u2014 wsdat";
  const container = document.getElementById("panels");
  const wanted = new Set(data.dats.map((d) => d.name));
  for (const name of [...panels.keys()]) {
    if (!wanted.has(name)) {
      panels.get(name).root.remove();
      panels.delete(name);
    }
  }
  for (const dat of data.dats) {
    const old = panels.get(dat.name);
    const typing = old ? old.root.querySelector(".send-text").value : "";
    if (old) old.root.remove();
    panels.delete(dat.name);
    const panel = buildPanel(dat.name);
    panel.root.querySelector(".send-text").value = typing;
    container.append(panel.root);
    apply(panel, dat);
  }
}

function tick() {  // the countdown to the next attempt of a reconnecting DAT
  for (const panel of panels.values()) {
    if (panel.status && panel.status.state === "reconnecting") panel.state.textContent = stateText(panel.status);
  }
}

function connect() {
  const link = document.getElementById("link");
  const source = new EventSource("events");
  source.addEventListener("open", () => {
    link.textContent = "live";
    link.className = "link link-up";
  });
  source.addEventListener("error", () => {
    link.textContent = "not connected to the service, retrying\u2026";
    link.className = "link link-down";
  });
  source.addEventListener("snapshot", (event) => snapshot(JSON.parse(event.data)));
  source.addEventListener("update", (event) => {
    const data = JSON.parse(event.data);
    for (const [name, change] of Object.entries(data.dats)) {
      const panel = panels.get(name);
      if (panel) apply(panel, change);
    }
  });
}

const first = document.getElementById("snapshot");
if (first && first.textContent.trim().startsWith("{")) snapshot(JSON.parse(first.textContent));
setInterval(tick, 1000);
connect();
