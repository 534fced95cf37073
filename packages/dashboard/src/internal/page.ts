/**
 * The page: plain HTML, CSS and JavaScript, fed by the server-sent events of
 * `/events` (no polling), charts drawn by uPlot served from `/assets`. Written
 * without template literals, so that it can sit in this file as it is.
 */

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const style = String.raw`
:root { --bg:#0f1419; --panel:#161c24; --line:#253041; --text:#d7dde6; --dim:#8593a6; --active:#4c9aff;
  --idle:#36b37e; --pending:#ffab00; --waiting:#ff5630; --accent:#a78bfa; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; }
header { display:flex; align-items:center; gap:12px; padding:14px 24px; border-bottom:1px solid var(--line); }
header h1 { font-size:17px; margin:0; font-weight:600; letter-spacing:.2px; }
header .sub { color:var(--dim); font-size:13px; }
#link { margin-left:auto; display:flex; align-items:center; gap:6px; color:var(--dim); font-size:12px; }
#link i { width:9px; height:9px; border-radius:50%; background:var(--waiting); display:inline-block; }
#link.up i { background:var(--idle); box-shadow:0 0 6px var(--idle); }
main { padding:18px 24px; display:grid; gap:18px; }
.pool { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:16px 18px; }
.pool h2 { margin:0; font-size:16px; display:flex; align-items:center; gap:10px; }
.badges { display:flex; gap:6px; flex-wrap:wrap; }
.badge { font-size:11px; padding:2px 8px; border-radius:999px; border:1px solid var(--line); color:var(--dim); }
.badge.ok { color:var(--idle); border-color:#1f5c44; }
.badge.warn { color:var(--pending); border-color:#6b4e00; background:#2a2100; }
.badge.bad { color:#ff8f73; border-color:#7a2a1a; background:#2d130d; }
.numbers { display:grid; grid-template-columns:repeat(9,minmax(72px,1fr)); gap:10px; margin:14px 0 8px; }
.num { background:#111820; border:1px solid var(--line); border-radius:8px; padding:8px 10px; }
.num b { display:block; font-size:22px; font-variant-numeric:tabular-nums; font-weight:600; }
.num span { color:var(--dim); font-size:11px; text-transform:uppercase; letter-spacing:.6px; }
.num.active b { color:var(--active); } .num.idle b { color:var(--idle); } .num.pending b { color:var(--pending); }
.num.waiting b { color:var(--waiting); } .num.target b { color:var(--accent); } .num.ceiling b { color:#f78fb3; }
.bar { position:relative; height:14px; background:#0c1117; border:1px solid var(--line); border-radius:7px; overflow:hidden; }
.bar div { position:absolute; top:0; bottom:0; transition:left .25s, width .25s; }
.bar .a { background:var(--active); } .bar .i { background:var(--idle); } .bar .p { background:var(--pending); }
.bar .min { width:2px; background:#fff; opacity:.7; }
.bar .tgt { width:2px; background:var(--accent); }
.bar .ceil { width:2px; background:#f78fb3; }
.bar.member { height:12px; min-width:160px; }
.legend { color:var(--dim); font-size:12px; margin-top:4px; }
.charts { display:grid; grid-template-columns:repeat(auto-fit,minmax(280px,1fr)); gap:12px; margin-top:14px; }
.chart { background:#111820; border:1px solid var(--line); border-radius:8px; padding:8px; }
.chart h3 { margin:0 0 4px; font-size:12px; color:var(--dim); font-weight:500; text-transform:uppercase; letter-spacing:.6px; }
.lower { display:grid; grid-template-columns:3fr 2fr; gap:12px; margin-top:14px; }
table { width:100%; border-collapse:collapse; font-size:12.5px; font-variant-numeric:tabular-nums; }
th { text-align:left; color:var(--dim); font-weight:500; border-bottom:1px solid var(--line); padding:5px 6px; }
td { border-bottom:1px solid #1d2530; padding:4px 6px; white-space:nowrap; }
td.state-active { color:var(--active); } td.state-idle { color:var(--idle); } td.state-validating { color:var(--pending); }
td.state-closing { color:var(--dim); } td.bad { color:#ff8f73; }
.box { background:#111820; border:1px solid var(--line); border-radius:8px; padding:8px 10px; max-height:320px; overflow:auto; }
.box h3 { margin:0 0 6px; font-size:12px; color:var(--dim); font-weight:500; text-transform:uppercase; letter-spacing:.6px; }
.event { font-size:12.5px; padding:3px 0; border-bottom:1px solid #1d2530; display:flex; gap:8px; }
.event time { color:var(--dim); font-variant-numeric:tabular-nums; }
.event.alert { color:#ffbdad; } .event.good { color:#abf5d1; }
.empty { color:var(--dim); font-style:italic; font-size:12px; }
.u-legend { font-size:11px !important; color:var(--dim); }
`

const script = String.raw`
(function () {
  var pools = {};
  var windowSeconds = 300;
  var main = document.getElementById("pools");
  var link = document.getElementById("link");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(n, digits) {
    if (n === null || n === undefined || isNaN(n)) return "–";
    return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 0 : digits });
  }
  function ms(n) {
    if (n < 1000) return fmt(n) + " ms";
    if (n < 60000) return fmt(n / 1000, 1) + " s";
    return fmt(n / 60000, 1) + " min";
  }
  function clock(t) { return new Date(t).toLocaleTimeString(); }

  function chart(parent, title, series, width) {
    var box = el("div", "chart");
    box.appendChild(el("h3", null, title));
    parent.appendChild(box);
    var opts = {
      width: width, height: 150,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: "#8593a6", grid: { stroke: "#1d2530" }, ticks: { stroke: "#253041" } },
        { stroke: "#8593a6", grid: { stroke: "#1d2530" }, ticks: { stroke: "#253041" }, size: 52 }
      ],
      series: [{}].concat(series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 2, fill: s.fill, points: { show: false }, spanGaps: false };
      }))
    };
    var data = [[]].concat(series.map(function () { return []; }));
    var plot = new uPlot(opts, data, box);
    return { plot: plot, data: data, box: box };
  }

  function makePool(name) {
    var card = el("section", "pool");
    card.setAttribute("data-pool", name);
    var h = el("h2");
    h.appendChild(el("span", null, name));
    var badges = el("span", "badges");
    h.appendChild(badges);
    card.appendChild(h);
    var numbers = el("div", "numbers");
    var fields = {};
    [["active", "active"], ["idle", "idle"], ["pending", "pending"], ["waiting", "waiting"],
     ["total", "open / max"], ["min", "min"], ["target", "target"], ["ceiling", "ceiling"],
     ["timeouts", "timeouts"]].forEach(function (f) {
      var n = el("div", "num " + f[0]);
      var b = el("b", null, "–");
      b.setAttribute("data-field", f[0]);
      n.appendChild(b);
      n.appendChild(el("span", null, f[1]));
      numbers.appendChild(n);
      fields[f[0]] = b;
    });
    card.appendChild(numbers);
    var bar = el("div", "bar");
    var a = el("div", "a"), i = el("div", "i"), p = el("div", "p"), m = el("div", "min");
    var tg = el("div", "tgt"), ce = el("div", "ceil");
    [a, i, p, m, tg, ce].forEach(function (d) { bar.appendChild(d); });
    card.appendChild(bar);
    card.appendChild(el("div", "legend", "blue in use · green idle · amber being opened · white line: minimum · violet line: target (kept open) · pink line: ceiling (at most, in a pool group) · full width: maximum"));
    var charts = el("div", "charts");
    card.appendChild(charts);
    main.appendChild(card);
    var w = Math.max(260, Math.floor((charts.clientWidth - 36) / 4) - 18);
    var pool = {
      card: card, badges: badges, fields: fields, bar: { a: a, i: i, p: p, m: m, tg: tg, ce: ce },
      connections: chart(charts, "connections", [{ label: "open", color: "#36b37e", fill: "rgba(54,179,126,.10)" },
        { label: "in use", color: "#4c9aff" }, { label: "min", color: "#d7dde6" }, { label: "target", color: "#a78bfa" },
        { label: "ceiling", color: "#f78fb3" }, { label: "max", color: "#8593a6" }], w),
      throughput: chart(charts, "throughput (acquisitions/s)", [{ label: "acquired/s", color: "#4c9aff", fill: "rgba(76,154,255,.12)" }], w),
      wait: chart(charts, "acquire wait (ms)", [{ label: "p50", color: "#36b37e" }, { label: "p99", color: "#ffab00" }], w),
      timeouts: chart(charts, "timeouts & waiting", [{ label: "timeouts", color: "#ff5630", fill: "rgba(255,86,48,.15)" }, { label: "waiting", color: "#a78bfa" }], w)
    };
    pool.connections.box.setAttribute("data-chart", "connections");
    pool.throughput.box.setAttribute("data-chart", "throughput");
    pool.wait.box.setAttribute("data-chart", "wait");
    pool.timeouts.box.setAttribute("data-chart", "timeouts");
    var lower = el("div", "lower");
    var conns = el("div", "box");
    conns.appendChild(el("h3", null, "connections"));
    var table = el("table");
    table.innerHTML = "<thead><tr><th>id</th><th>state</th><th>age</th><th>uses</th><th>idle</th><th>health</th><th>held by</th></tr></thead>";
    var tbody = el("tbody");
    tbody.setAttribute("data-connections", name);
    table.appendChild(tbody);
    conns.appendChild(table);
    var events = el("div", "box");
    events.appendChild(el("h3", null, "recent events & alerts"));
    var list = el("div");
    list.setAttribute("data-events", name);
    list.appendChild(el("div", "empty", "nothing yet"));
    events.appendChild(list);
    lower.appendChild(conns);
    lower.appendChild(events);
    card.appendChild(lower);
    pool.tbody = tbody;
    pool.events = list;
    pool.lastTimeouts = 0;
    pool.timeoutsSeenAt = 0;
    pools[name] = pool;
    return pool;
  }

  function push(c, t, values) {
    c.data[0].push(t);
    for (var k = 0; k < values.length; k++) c.data[k + 1].push(values[k]);
    var cut = 0;
    while (cut < c.data[0].length && c.data[0][cut] < t - windowSeconds) cut++;
    if (cut > 0) for (var j = 0; j < c.data.length; j++) c.data[j].splice(0, cut);
  }

  function addPoint(p, t, point, redraw) {
    var s = t / 1000, st = point.stats;
    // target and ceiling: absent from the statistics of an older @dbpool/core
    push(p.connections, s, [st.totalConnections, st.activeConnections, st.minConnections,
      st.targetConnections === undefined ? null : st.targetConnections,
      st.ceilingConnections === undefined ? null : st.ceilingConnections, st.maxConnections]);
    push(p.throughput, s, [point.throughput]);
    push(p.wait, s, [point.waitP50, point.waitP99]);
    push(p.timeouts, s, [point.timeouts, point.stats.waitingRequests]);
    if (point.timeouts > 0) p.timeoutsSeenAt = t;
    if (redraw) {
      p.connections.plot.setData(p.connections.data);
      p.throughput.plot.setData(p.throughput.data);
      p.wait.plot.setData(p.wait.data);
      p.timeouts.plot.setData(p.timeouts.data);
    }
  }

  function badge(text, cls) { var b = el("span", "badge " + cls, text); b.setAttribute("data-alert", text); return b; }

  function showStats(p, point, t) {
    var s = point.stats;
    p.fields.active.textContent = fmt(s.activeConnections);
    p.fields.idle.textContent = fmt(s.idleConnections);
    p.fields.pending.textContent = fmt(s.pendingConnections);
    p.fields.waiting.textContent = fmt(s.waitingRequests);
    p.fields.total.textContent = fmt(s.totalConnections) + " / " + fmt(s.maxConnections);
    p.fields.min.textContent = fmt(s.minConnections);
    p.fields.target.textContent = fmt(s.targetConnections);
    p.fields.ceiling.textContent = fmt(s.ceilingConnections);
    p.fields.timeouts.textContent = fmt(s.timeouts);
    var max = Math.max(1, s.maxConnections);
    var pct = function (n) { return (100 * n / max) + "%"; };
    p.bar.a.style.left = "0"; p.bar.a.style.width = pct(s.activeConnections);
    p.bar.i.style.left = pct(s.activeConnections); p.bar.i.style.width = pct(s.idleConnections);
    p.bar.p.style.left = pct(s.activeConnections + s.idleConnections); p.bar.p.style.width = pct(s.pendingConnections);
    p.bar.m.style.left = pct(s.minConnections);
    p.bar.tg.style.left = pct(s.targetConnections === undefined ? s.minConnections : s.targetConnections);
    p.bar.ce.style.left = "calc(" + pct(s.ceilingConnections === undefined ? s.maxConnections : s.ceilingConnections) + " - 2px)";
    p.badges.textContent = "";
    var alerts = 0;
    if (s.circuitState === "open") { p.badges.appendChild(badge("circuit open", "bad")); alerts++; }
    if (t - p.timeoutsSeenAt < 60000) { p.badges.appendChild(badge("acquire timeouts", "bad")); alerts++; }
    if (s.waitingRequests > 0 && s.activeConnections >= s.maxConnections) { p.badges.appendChild(badge("exhausted: callers waiting", "warn")); alerts++; }
    if (s.totalConnections + s.pendingConnections < s.minConnections) { p.badges.appendChild(badge("below minimum", "warn")); alerts++; }
    if (alerts === 0) p.badges.appendChild(badge("healthy", "ok"));
  }

  function showDetail(p, detail) {
    var holders = {};
    detail.leases.forEach(function (l) { holders[l.connectionId] = l; });
    p.tbody.textContent = "";
    detail.connections.forEach(function (c) {
      var tr = el("tr");
      tr.setAttribute("data-connection", c.id);
      var held = holders[c.id];
      var by = held ? ms(held.heldFor) + (held.span ? " · " + (held.span.name || "external span") + " (" + held.span.traceId.slice(0, 8) + ")" : "") : "";
      [[c.id], [c.state, "state-" + c.state], [ms(c.age)], [fmt(c.usageCount)], [c.state === "idle" ? ms(c.idleTime) : ""],
       [c.healthy ? "healthy" : "unhealthy", c.healthy ? "" : "bad"], [by]].forEach(function (cell) {
        tr.appendChild(el("td", cell[1] || null, cell[0]));
      });
      p.tbody.appendChild(tr);
    });
    if (detail.connections.length === 0) {
      var tr = el("tr"); var td = el("td", "empty", "no open connection"); td.colSpan = 7; tr.appendChild(td); p.tbody.appendChild(tr);
    }
  }

  var cluster = null;
  // A card of one table (the cluster's nodes, a group's members): title with badges, header row, legend.
  function tableCard(kind, key, title, headers, legend) {
    var card = el("section", "pool " + kind);
    card.setAttribute("data-" + kind, key);
    var h = el("h2");
    h.appendChild(el("span", null, title));
    var badges = el("span", "badges");
    h.appendChild(badges);
    card.appendChild(h);
    var box = el("div", "box");
    box.style.marginTop = "12px";
    var table = el("table");
    table.innerHTML = "<thead><tr>" + headers.map(function (t) { return "<th>" + t + "</th>"; }).join("") + "</tr></thead>";
    var tbody = el("tbody");
    table.appendChild(tbody);
    box.appendChild(table);
    card.appendChild(box);
    card.appendChild(el("div", "legend", legend));
    return { card: card, badges: badges, tbody: tbody };
  }
  function makeCluster() {
    cluster = tableCard("cluster", "", "cluster",
      ["node", "role", "state", "lag", "reads", "writes", "fallbacks", "rerouted"],
      "reads and writes: statements routed outside a transaction · fallbacks: reads the primary ran as no replica could · rerouted: reads a node could not start, run on the next");
    main.insertBefore(cluster.card, main.firstChild);
  }
  function lagText(n) {
    if (n === undefined) return "–";
    if (n === null) return "behind (unknown)";
    return ms(n);
  }
  function showCluster(c) {
    if (!cluster) makeCluster();
    cluster.badges.textContent = "";
    var allUp = c.nodesUp === c.nodes.length;
    cluster.badges.appendChild(badge(c.nodesUp + " of " + c.nodes.length + " nodes up", allUp ? "ok" : "bad"));
    cluster.tbody.textContent = "";
    c.nodes.forEach(function (n) {
      var tr = el("tr");
      tr.setAttribute("data-node", n.name);
      [["name", n.name], ["role", n.role], ["state", n.up ? "up" : "down" + (n.reason ? ": " + n.reason : ""), n.up ? "state-idle" : "bad"],
       ["lag", lagText(n.lagMillis)], ["reads", fmt(n.reads)], ["writes", fmt(n.writes)], ["fallbacks", fmt(n.fallbacks)],
       ["rerouted", fmt(n.rerouted)]].forEach(function (cell) {
        var td = el("td", cell[2] || null, cell[1]);
        td.setAttribute("data-field", cell[0]);
        tr.appendChild(td);
      });
      cluster.tbody.appendChild(tr);
      // the node's pool card says which node it is
      var p = pools[n.name];
      if (p) {
        var role = el("span", "badge " + (n.up ? "ok" : "bad"), n.role + (n.up ? "" : " · down"));
        role.setAttribute("data-role", n.role);
        p.badges.insertBefore(role, p.badges.firstChild);
      }
    });
  }

  var groups = {};
  function makeGroup(name) {
    var made = tableCard("group", name, "pool group " + name,
      ["pool", "share of the budget", "connections", "floor", "ceiling", "in use", "idle", "being opened", "waiting"],
      "connections: what a member holds of the budget (open, closing, being opened) · bar: blue in use, green idle, amber being opened, out of the whole budget · white line: floor · pink line: ceiling (its cap, or its fair share while the members want more than the budget)");
    main.insertBefore(made.card, cluster ? cluster.card.nextSibling : main.firstChild);
    groups[name] = { badges: made.badges, tbody: made.tbody };
    return groups[name];
  }
  function memberBar(m, budget) {
    var bar = el("div", "bar member");
    var pct = function (n) { return (100 * n / Math.max(1, budget)) + "%"; };
    var active = Math.min(m.active, m.connections), idle = Math.min(m.idle, m.connections - active);
    [["a", 0, active], ["i", active, idle], ["p", active + idle, m.pending]].forEach(function (part) {
      var d = el("div", part[0]); d.style.left = pct(part[1]); d.style.width = pct(part[2]); bar.appendChild(d);
    });
    var f = el("div", "min"); f.style.left = pct(m.floor); bar.appendChild(f);
    var c = el("div", "ceil"); c.style.left = "calc(" + pct(m.ceiling) + " - 2px)"; bar.appendChild(c);
    return bar;
  }
  function showGroup(g) {
    var view = groups[g.name] || makeGroup(g.name);
    view.badges.textContent = "";
    var b = badge(g.connections + " of " + g.maxConnections + " connections", g.connections < g.maxConnections ? "ok" : "warn");
    b.setAttribute("data-field", "budget");
    view.badges.appendChild(b);
    var moves = el("span", "badge", g.capacityMoves + " moved");
    moves.setAttribute("data-field", "moves");
    view.badges.appendChild(moves);
    view.tbody.textContent = "";
    g.members.forEach(function (m) {
      var tr = el("tr");
      tr.setAttribute("data-member", m.pool);
      var share = el("td"); share.appendChild(memberBar(m, g.maxConnections));
      tr.appendChild(el("td", null, m.pool));
      tr.appendChild(share);
      [["connections", fmt(m.connections)], ["floor", fmt(m.floor)], ["ceiling", fmt(m.ceiling)], ["active", fmt(m.active)],
       ["idle", fmt(m.idle)], ["pending", fmt(m.pending)], ["waiting", fmt(m.waiting), m.waiting > 0 ? "bad" : null]].forEach(function (cell) {
        var td = el("td", cell[2] || null, cell[1]);
        td.setAttribute("data-field", cell[0]);
        tr.appendChild(td);
      });
      view.tbody.appendChild(tr);
    });
  }

  var alertTags = { AcquireTimedOut: 1, CircuitOpened: 1, ConnectFailed: 1, LeakDetected: 1, AlertRaised: 1, NodeDown: 1 };
  var goodTags = { CircuitClosed: 1, AlertResolved: 1, NodeUp: 1 };
  function describe(e) {
    switch (e._tag) {
      case "ConnectionCreated": return "connection " + e.connectionId + " opened in " + ms(e.createTime) + (e.attempts > 1 ? " (" + e.attempts + " attempts)" : "");
      case "ConnectionClosed": return "connection " + e.connectionId + " closed (" + e.reason + ")";
      case "HealthCheckStarted": return "health check of " + e.connectionId;
      case "HealthCheckCompleted": return "health check of " + e.connectionId + ": " + (e.healthy ? "healthy" : "unhealthy") + " in " + ms(e.duration);
      case "AcquireTimedOut": return "a caller timed out after " + ms(e.waitTime);
      case "LeakDetected": return "possible leak: " + e.connectionId + " held for " + ms(e.heldTime);
      case "ConnectFailed": return "connection attempt " + e.attempt + " failed: " + e.cause;
      case "CircuitOpened": return "circuit breaker opened after " + e.failures + " failures: " + e.cause;
      case "CircuitClosed": return "circuit breaker closed after " + ms(e.duration);
      case "AlertRaised": return "ALERT " + e.alert + " (" + e.severity + "): " + e.summary;
      case "AlertResolved": return "resolved " + e.alert + " after " + ms(e.duration);
      case "NodeDown": return "cluster: node down (" + e.reason + ")";
      case "NodeUp": return "cluster: node up after " + ms(e.downFor);
      case "TargetChanged": return "target " + e.from + " → " + e.to + " (" + e.reason + ")";
      case "CeilingChanged": return "group: ceiling " + e.previous + " → " + e.ceiling;
      case "CapacityMoved": return "group: idle connection " + e.connectionId + " closed for " + (e.to || "its fair share");
      default:
        var rest = Object.keys(e).filter(function (k) { return k !== "_tag"; }).map(function (k) { return k + " " + JSON.stringify(e[k]); });
        return e._tag + (rest.length ? ": " + rest.join(", ") : "");
    }
  }
  function addNotice(n) {
    var p = pools[n.pool];
    if (!p || n.event._tag === "HealthCheckStarted") return;
    var empty = p.events.querySelector(".empty");
    if (empty) empty.remove();
    var row = el("div", "event" + (alertTags[n.event._tag] ? " alert" : goodTags[n.event._tag] ? " good" : ""));
    row.setAttribute("data-event", n.event._tag);
    row.appendChild(el("time", null, clock(n.t)));
    row.appendChild(el("span", null, describe(n.event)));
    p.events.insertBefore(row, p.events.firstChild);
    while (p.events.childNodes.length > 60) p.events.removeChild(p.events.lastChild);
  }

  function sample(message, redraw) {
    var t = message.sample.t;
    message.sample.pools.forEach(function (point) {
      var p = pools[point.name] || makePool(point.name);
      addPoint(p, t, point, redraw);
      showStats(p, point, t);
    });
    (message.details || []).forEach(function (d) { if (pools[d.name]) showDetail(pools[d.name], d); });
    if (message.sample.cluster) showCluster(message.sample.cluster);
    (message.sample.groups || []).forEach(showGroup);
    document.body.setAttribute("data-updated", String(t));
  }

  function connect() {
    var source = new EventSource("events");
    source.addEventListener("hello", function (m) {
      var hello = JSON.parse(m.data);
      hello.pools.forEach(function (name) { if (!pools[name]) makePool(name); });
      hello.samples.forEach(function (s) { sample({ sample: s }, false); });
      if (hello.latest) sample(hello.latest, true);
      hello.notices.forEach(addNotice);
      link.className = "up";
      link.lastChild.textContent = "live";
    });
    source.addEventListener("sample", function (m) { sample(JSON.parse(m.data), true); });
    source.addEventListener("notice", function (m) { addNotice(JSON.parse(m.data)); });
    source.onerror = function () { link.className = ""; link.lastChild.textContent = "reconnecting…"; };
    source.onopen = function () { link.className = "up"; link.lastChild.textContent = "live"; };
  }
  connect();
})();
`

/** The page, titled `title`. */
export const html = (title: string): string => {
  const t = escapeHtml(title)
  return [
    "<!doctype html>",
    "<html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    `<title>${t}</title>`,
    "<link rel=\"stylesheet\" href=\"assets/uPlot.min.css\">",
    `<style>${style}</style>`,
    "</head><body>",
    `<header><h1>${t}</h1><span class="sub">dbpool · live pool statistics</span>`,
    "<span id=\"link\"><i></i><span>connecting…</span></span></header>",
    "<main id=\"pools\"></main>",
    "<script src=\"assets/uPlot.min.js\"></script>",
    `<script>${script}</script>`,
    "</body></html>"
  ].join("\n")
}
