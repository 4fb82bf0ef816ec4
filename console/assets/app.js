// raftmq console: one page per path, rendered from the JSON API, refreshed
// every 2 s. Everything shown is built with textContent (message bodies and
// properties are user data).
"use strict";

const POLL_MS = 2000;
const HISTORY = 150; // chart points kept (5 min at 2 s)
let timer = null;
let generation = 0;
const history = {}; // chart series by key, kept across pages
const lastReset = {}; // consumer group -> offsets of its last reset here

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function table(headers, rows, attrs) {
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", { class: h.num ? "num" : "", text: h.label || h })))),
    el("tbody", {}, rows));
}

function td(v, cls) { return el("td", { class: cls || "", text: v === undefined || v === null ? "" : String(v) }); }
function num(v) { return td(typeof v === "number" ? v.toLocaleString("en-US") : v, "num"); }
function when(ms) { return ms ? new Date(ms).toLocaleString() : "-"; }

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Raftmq-Console": "1" },
  };
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((data && data.error) || (r.status + " " + r.statusText));
  return data;
}

function notice(msg, isError) {
  const n = document.getElementById("notice");
  n.textContent = msg;
  n.className = isError ? "error" : "";
  n.hidden = false;
  n.dataset.kind = isError ? "error" : "ok";
}

function confirmAction(text) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise(resolve => {
    d.addEventListener("close", () => resolve(d.returnValue === "yes"), { once: true });
    d.showModal();
  });
}

async function act(what, text, fn) {
  if (text && !(await confirmAction(text))) return null;
  try {
    const res = await fn();
    notice((res && res.result) || (what + ": done"));
    refresh();
    return res;
  } catch (e) {
    notice(what + " failed: " + e.message, true);
    return null;
  }
}

// push appends a point to a series and returns the series.
function push(key, v) {
  const s = history[key] || (history[key] = []);
  s.push({ t: Date.now(), v });
  while (s.length > HISTORY) s.shift();
  return s;
}

// rate turns a counter into a per-second rate between polls.
const last = {};
function rate(key, counter) {
  const now = Date.now(), p = last[key];
  last[key] = { t: now, c: counter };
  if (!p || counter < p.c || now <= p.t) return null;
  return (counter - p.c) * 1000 / (now - p.t);
}

function chart(series, labels) {
  const c = el("canvas", { class: "chart", width: 900, height: 140 });
  const legend = el("div", { class: "legend" }, labels.map((l, i) => el("span", { class: i ? "sw-b" : "sw-a", text: "\u25A0 " + l })));
  requestAnimationFrame(() => draw(c, series));
  return el("div", {}, c, legend);
}

function draw(c, series) {
  const w = c.width, h = c.height, g = c.getContext("2d");
  g.clearRect(0, 0, w, h);
  const pts = series.flat();
  if (!pts.length) return;
  const t0 = Math.min(...pts.map(p => p.t)), t1 = Math.max(...pts.map(p => p.t), t0 + 1);
  const vmax = Math.max(1, ...pts.map(p => p.v));
  g.strokeStyle = "#dfe3ea"; g.fillStyle = "#6b7386"; g.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = 10 + (h - 30) * i / 4;
    g.beginPath(); g.moveTo(40, y); g.lineTo(w - 5, y); g.stroke();
    const v = vmax * (4 - i) / 4;
    g.fillText(vmax < 10 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US"), 2, y + 4);
  }
  ["#2459c8", "#d9480f"].forEach((color, i) => {
    const s = series[i];
    if (!s || !s.length) return;
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    s.forEach((p, j) => {
      const x = 40 + (w - 45) * (p.t - t0) / (t1 - t0), y = 10 + (h - 30) * (1 - p.v / vmax);
      if (j) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
  });
}

// ---- pages ----

const pages = {};

pages.cluster = {
  title: "Cluster",
  load: () => api("/api/cluster"),
  render(data) {
    if (!data.groups.length) return [el("p", { text: "No broker group is registered with the NameServer yet." })];
    return data.groups.map(g => {
      const leader = g.members.find(m => m.serving);
      const inRate = rate("in:" + g.name, Math.max(0, ...g.members.map(m => m.messagesApplied || 0)));
      const outRate = rate("out:" + g.name, g.members.reduce((a, m) => a + (m.getTotal || 0), 0));
      const sin = push("in:" + g.name, inRate === null ? 0 : inRate), sout = push("out:" + g.name, outRate === null ? 0 : outRate);
      const rows = g.members.map(m => el("tr", { "data-node": m.node || m.addr },
        td(m.node || "?", m.serving ? "leader" : ""), td(m.addr),
        td(m.error ? "unreachable: " + m.error : (m.state + (m.serving ? " (serving)" : "")), m.error ? "bad" : ""),
        num(m.term), num(m.commitIndex), num(m.appliedIndex), num(m.lag),
        td(m.error ? "" : (m.diskUsed * 100).toFixed(1) + "%" + (m.diskFull ? " FULL" : ""), m.diskFull ? "bad num" : "num"),
        num(m.commitLogBytes === undefined ? "" : (m.commitLogBytes / 1048576).toFixed(1)),
        td(m.partialHistory ? "fetching history" : ""), td(m.pid || "", "num")));
      const target = el("select", { id: "transfer-target-" + g.name },
        el("option", { value: "", text: "any up-to-date member" }),
        g.members.filter(m => m.node && !m.serving).map(m => el("option", { value: m.node, text: m.node })));
      return el("section", { class: "card", "data-group": g.name },
        el("h2", {}, g.name, " ", el("span", { class: "muted", text: "cluster " + g.cluster + (g.groupAddr ? " · group address " + g.groupAddr : "") })),
        el("p", {}, "Leader: ", el("strong", { class: "leader", "data-leader": g.leader || "", text: g.leader || "none (election)" }),
          " · in ", el("strong", { text: (inRate || 0).toFixed(0) }), " msgs/s · out ", el("strong", { text: (outRate || 0).toFixed(0) }), " msgs/s",
          leader ? " · waiting: " + leader.pendingDelayed + " delayed, " + leader.pendingTimers + " timers, " + leader.openTransactions + " open transactions" : ""),
        table(["Node", "Address", "Raft state", { label: "Term", num: 1 }, { label: "Commit", num: 1 }, { label: "Applied", num: 1 },
          { label: "Apply lag", num: 1 }, { label: "Disk", num: 1 }, { label: "CommitLog MiB", num: 1 }, "", { label: "PID", num: 1 }], rows),
        chart([sin, sout], ["messages in/s", "messages out/s"]),
        el("form", { class: "inline", onsubmit: e => {
          e.preventDefault();
          act("Leadership transfer", "Transfer leadership of " + g.name + (target.value ? " to " + target.value : "") + "? Sends pause for an election (under a second).",
            () => api("/api/transfer", { group: g.name, target: target.value }));
        } }, el("label", {}, "Transfer leadership to", target), el("button", { class: "secondary", id: "transfer-" + g.name, text: "Transfer leadership" })));
    });
  },
};

pages.topics = {
  title: "Topics",
  load: () => api("/api/topics" + (new URLSearchParams(location.search).get("system") === "1" ? "?system=1" : "")),
  render(data) {
    const name = el("input", { id: "topic-name", placeholder: "topic", required: true, pattern: "[A-Za-z0-9_%|-]+" });
    const queues = el("input", { id: "topic-queues", type: "number", min: 1, max: 1024, value: 8 });
    const form = el("form", { class: "inline card", id: "topic-form", onsubmit: e => {
      e.preventDefault();
      act("Create topic", null, () => api("/api/topics", { topic: name.value.trim(), queues: Number(queues.value) }));
    } }, el("label", {}, "Topic", name), el("label", {}, "Queues per group", queues), el("button", { id: "topic-submit", text: "Create or update" }));
    const sys = new URLSearchParams(location.search).get("system") === "1";
    const toggle = el("a", { href: sys ? "/topics" : "/topics?system=1", text: sys ? "hide system topics" : "show system topics" });
    const rows = data.map(t => {
      const groups = {};
      t.queues.forEach(q => { (groups[q.group] = groups[q.group] || []).push(q); });
      const per = Object.entries(groups).map(([g, qs]) => g + ": " + qs.length).join(", ");
      const detail = el("details", {}, el("summary", { text: t.queues.length + " queues (" + per + ")" }),
        table(["Group", { label: "Queue", num: 1 }, { label: "Min", num: 1 }, { label: "Max", num: 1 }, "Last message"],
          t.queues.map(q => el("tr", {}, td(q.group), num(q.queue), num(q.min), num(q.max), td(when(q.lastUpdate))))));
      return el("tr", { "data-topic": t.topic, "data-queues": t.queues.length },
        td(t.topic), el("td", {}, detail, t.error ? el("div", { class: "bad", text: t.error }) : null),
        td(t.messages.toLocaleString("en-US"), "num messages"),
        el("td", {}, el("a", { href: "/messages?topic=" + encodeURIComponent(t.topic), text: "messages" }), " ",
          t.system ? null : el("button", { class: "link", "data-delete": t.topic, text: "delete", onclick: () =>
            act("Delete topic", "Delete topic " + t.topic + " and all its messages and offsets on every group? This cannot be undone.",
              () => api("/api/topics/delete", { topic: t.topic })) })));
    });
    return [form, el("p", {}, toggle), table(["Topic", "Queues", { label: "Messages", num: 1 }, ""], rows, { id: "topics" })];
  },
};

pages.groups = {
  title: "Consumer groups",
  load: () => {
    const sel = new URLSearchParams(location.search).get("group");
    return api("/api/groups" + (sel ? "?group=" + encodeURIComponent(sel) : ""));
  },
  render(data) {
    const sel = new URLSearchParams(location.search).get("group");
    const rows = data.map(g => {
      push("lag:" + g.group, g.lag);
      return el("tr", { "data-group": g.group, class: g.group === sel ? "selected" : "" },
        el("td", {}, el("a", { href: "/groups?group=" + encodeURIComponent(g.group), text: g.group })),
        num(g.lag), num(new Set(g.queues.map(q => q.topic)).size), td(g.config.consumeBroadcastEnable ? "yes" : "no"), td(g.error || "", "bad"));
    });
    const out = [table(["Group", { label: "Lag", num: 1 }, { label: "Topics", num: 1 }, "Broadcast", ""], rows, { id: "groups" })];
    const g = data.find(x => x.group === sel);
    if (sel && !g) out.push(el("p", { class: "bad", text: "No consumer group " + sel + "." }));
    if (g) {
      const topics = [...new Set(g.queues.map(q => q.topic))].sort();
      const topic = el("select", { id: "reset-topic" }, topics.map(t => el("option", { value: t, text: t })));
      const at = el("input", { id: "reset-time", type: "datetime-local", step: 1 });
      const result = el("div", { id: "reset-result" }, lastReset[g.group] ? [
        el("p", { class: "muted", text: "Last reset, on " + lastReset[g.group].topic + ":" }),
        table(["Broker group", { label: "Queue", num: 1 }, { label: "New offset", num: 1 }],
          lastReset[g.group].offsets.map(o => el("tr", {}, td(o.brokerGroup), num(o.queue), num(o.offset))))] : []);
      out.push(el("section", { class: "card", id: "group-detail" },
        el("h2", { text: g.group }),
        el("p", {}, "Lag ", el("strong", { id: "group-lag", text: g.lag.toLocaleString("en-US") }),
          g.messageModel ? " · " + g.messageModel.toLowerCase() + ", " + (g.consumeType || "").toLowerCase().replace("_", " ") : ""),
        el("h3", { text: "Members" }),
        (g.members || []).length
          ? table(["Client id", "Address", "Language", { label: "Version", num: 1 }, "Connected to"],
            g.members.map(m => el("tr", { "data-client": m.clientId }, td(m.clientId), td(m.clientAddr), td(m.language), num(m.version), td(m.member || ""))), { id: "group-members" })
          : el("p", { class: "muted", id: "no-members", text: "No consumer of this group is connected." }),
        Object.keys(g.subscriptions || {}).length
          ? el("p", { class: "muted", text: "Subscriptions: " + Object.entries(g.subscriptions).sort().map(([t, e]) => t + " (" + e + ")").join(", ") })
          : null,
        chart([history["lag:" + g.group] || []], ["lag (messages)"]),
        table(["Topic", "Broker group", { label: "Queue", num: 1 }, { label: "Broker offset", num: 1 }, { label: "Consumer offset", num: 1 }, { label: "Lag", num: 1 }],
          g.queues.map(q => el("tr", { "data-queue": q.topic + "/" + q.brokerGroup + "/" + q.queue },
            td(q.topic), td(q.brokerGroup), num(q.queue), num(q.brokerOffset), num(q.consumerOffset), num(q.lag)))),
        el("h3", { text: "Reset offsets by time" }),
        el("p", { class: "muted", text: "Stop the group's consumers first: running consumers keep their in-memory offsets." }),
        el("form", { class: "inline", onsubmit: async e => {
          e.preventDefault();
          const t = at.value ? new Date(at.value).getTime() : 0;
          const tp = topic.value;
          await act("Reset offsets", "Reset " + g.group + " on " + tp + " to " + (t ? new Date(t).toLocaleString() : "the beginning") + "?",
            async () => {
              const res = await api("/api/groups/reset", { group: g.group, topic: tp, time: t });
              lastReset[g.group] = { topic: tp, offsets: res.offsets };
              return res;
            });
        } }, el("label", {}, "Topic", topic), el("label", {}, "Time (empty: the beginning)", at), el("button", { id: "reset-submit", class: "danger", text: "Reset" })),
        result));
    }
    return out;
  },
};

pages.messages = {
  title: "Messages",
  load() {
    const q = new URLSearchParams(location.search);
    if (!q.get("msgId") && !q.get("key") && !q.get("offset")) return Promise.resolve(null);
    return api("/api/messages?" + q.toString());
  },
  poll: false,
  render(data) {
    const q = new URLSearchParams(location.search);
    const input = (id, name, ph) => el("input", { id, name, placeholder: ph, value: q.get(name) || "" });
    const go = params => { history.pushState(null, "", "/messages?" + new URLSearchParams(params)); route(); };
    const byKey = [input("q-key-topic", "topic", "topic"), input("q-key", "key", "key")];
    const byID = [input("q-id-topic", "topic", "topic (for a UNIQ_KEY id)"), input("q-id", "msgId", "message id")];
    const byOff = [input("q-off-topic", "topic", "topic"), input("q-off-group", "brokerGroup", "broker group"),
      input("q-off-queue", "queue", "queue"), input("q-off", "offset", "offset")];
    const form = (id, fields, label) => el("form", { class: "inline", id, onsubmit: e => {
      e.preventDefault();
      const p = {};
      fields.forEach(f => { if (f.value.trim()) p[f.name] = f.value.trim(); });
      go(p);
    } }, fields.map(f => el("label", {}, f.placeholder, f)), el("button", { text: label }));
    const out = [el("section", { class: "card" }, el("h2", { text: "Look up" }),
      form("by-key", byKey, "By key"), form("by-id", byID, "By message id"), form("by-offset", byOff, "By queue and offset"))];
    if (data) {
      if (!data.length) out.push(el("p", { text: "No message found." }));
      data.forEach(m => out.push(el("section", { class: "card message", "data-msgid": m.msgId },
        el("h2", {}, m.topic, " ", el("span", { class: "muted", text: m.msgId })),
        table(["Field", "Value"], [
          ["Offset message id", m.offsetMsgId], ["Queue", m.brokerGroup + " / " + m.queue + " @ " + m.queueOffset],
          ["CommitLog offset", m.commitLogOffset], ["Tags", m.tags], ["Keys", (m.keys || []).join(" ")],
          ["Born", when(m.bornTime) + " from " + m.bornHost], ["Stored", when(m.storeTime) + " on " + m.storeHost],
          ["Reconsume times", m.reconsumeTimes], ["Body size", m.bodySize + " bytes" + (m.bodyBase64 ? " (binary, base64 below)" : "")],
        ].map(([k, v]) => el("tr", {}, td(k), td(v)))),
        el("h3", { text: "Body" }), el("pre", { class: "body", text: m.body }),
        el("h3", { text: "Properties" }),
        table(["Name", "Value"], Object.entries(m.properties || {}).sort().map(([k, v]) => el("tr", {}, td(k), td(v)))),
        el("h3", { text: "Trace: consumer groups" }),
        Object.keys(m.consumedBy || {}).length
          ? table(["Group", "Consumed"], Object.entries(m.consumedBy).sort().map(([g, c]) => el("tr", {}, td(g), td(c ? "consumed" : "not yet"))))
          : el("p", { class: "muted", text: "No consumer group has committed an offset on this queue." }))));
    }
    const st = el("input", { id: "send-topic", placeholder: "topic", value: q.get("topic") || "" });
    const tags = el("input", { id: "send-tags", placeholder: "tags" });
    const keys = el("input", { id: "send-keys", placeholder: "keys (space-separated)" });
    const body = el("textarea", { id: "send-body", placeholder: "body" });
    out.push(el("section", { class: "card" }, el("h2", { text: "Send a test message" }),
      el("form", { id: "send-form", onsubmit: e => {
        e.preventDefault();
        act("Send", null, () => api("/api/messages/send", { topic: st.value.trim(), tags: tags.value, keys: keys.value, body: body.value }));
      } }, el("div", { class: "inline" }, el("label", {}, "Topic", st), el("label", {}, "Tags", tags), el("label", {}, "Keys", keys)),
        body, el("p", {}, el("button", { id: "send-submit", text: "Send" })))));
    return out;
  },
};

pages.transactions = {
  title: "Transactions and timers",
  load: () => Promise.all([api("/api/transactions"), api("/api/cluster")]).then(([t, c]) => Object.assign(t, { cluster: c })),
  render(data) {
    const waiting = data.cluster.groups.map(g => {
      const l = g.members.find(m => m.serving);
      return el("tr", { "data-waiting": g.name }, td(g.name), num(l ? l.pendingTimers : "-"), num(l ? l.pendingDelayed : "-"),
        td(l && l.pendingDelayedByLevel ? l.pendingDelayedByLevel.map((n, i) => n ? "L" + (i + 1) + ": " + n : "").filter(Boolean).join(", ") : ""),
        num(l ? l.openTransactions : "-"));
    });
    const summary = [el("h2", { text: "Waiting messages" }),
      table(["Broker group", { label: "Timers (TIMER_*)", num: 1 }, { label: "Delayed (DELAY)", num: 1 }, "Delayed by level", { label: "Open transactions", num: 1 }], waiting, { id: "waiting" }),
      el("h2", { text: "Open transactions" })];
    const rows = data.transactions.map(t => el("tr", { "data-msgid": t.msgId },
      td(t.brokerGroup), td(t.topic), num(t.queueId), td(t.producerGroup), td(t.msgId), td(t.keys || ""),
      td(when(t.storeTimestamp)), num(t.checks), td(when(t.lastCheck))));
    return [...summary, el("p", { class: "muted", text: "Open transactions: half messages waiting for their producer's commit or rollback, and how often each was checked back." + (data.truncated ? " (truncated)" : "") }),
      rows.length ? table(["Group", "Topic", { label: "Queue", num: 1 }, "Producer group", "Message id", "Keys", "Stored", { label: "Checks", num: 1 }, "Last check"], rows, { id: "transactions" })
        : el("p", { id: "no-transactions", text: "No open transaction." })];
  },
};

function pageOf(path) {
  return { "/": "cluster", "/topics": "topics", "/groups": "groups", "/messages": "messages", "/transactions": "transactions" }[path] || "cluster";
}

async function refresh() {
  const name = pageOf(location.pathname), p = pages[name], gen = generation;
  try {
    const data = await p.load();
    if (gen !== generation) return;
    const main = document.getElementById("main");
    // Keep what the user is typing: re-render only when no form field has focus.
    const focused = document.activeElement && main.contains(document.activeElement) && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName);
    if (!focused || main.dataset.page !== name) {
      const open = [...main.querySelectorAll("details[open]")].map(d => d.parentElement && d.parentElement.parentElement && d.parentElement.parentElement.dataset.topic);
      main.replaceChildren(el("h1", { text: p.title }), ...p.render(data));
      main.querySelectorAll("tr[data-topic]").forEach(tr => { if (open.includes(tr.dataset.topic)) tr.querySelector("details").open = true; });
      main.dataset.page = name;
      main.dataset.loaded = String(Date.now());
    }
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (gen === generation) notice("Could not load " + p.title + ": " + e.message, true);
  }
}

function route() {
  generation++;
  clearInterval(timer);
  const name = pageOf(location.pathname);
  document.title = "raftmq · " + pages[name].title;
  document.querySelectorAll("nav a").forEach(a => a.classList.toggle("active", a.dataset.page === name));
  document.getElementById("main").dataset.page = "";
  refresh();
  if (pages[name].poll !== false) timer = setInterval(refresh, POLL_MS);
}

document.addEventListener("click", e => {
  const a = e.target.closest("a[href^='/']");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  document.getElementById("notice").hidden = true;
  route();
});
window.addEventListener("popstate", route);
route();
