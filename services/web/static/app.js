// storyqa's service page: plain JavaScript, no build step, nothing from elsewhere.
// It calls the service's own API with the session cookie (sent by the browser) and, for a
// request that changes something, the page's CSRF token (X-CSRF-Token).
"use strict";

(() => {
  const body = document.body;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const eventTypes = (body.dataset.eventTypes || "").split(" ").filter(Boolean);

  // --- requests --------------------------------------------------------------------------
  function toLogin() {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  async function request(method, path, payload, accept) {
    const headers = { Accept: accept || "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    const text = await response.text();
    if (response.ok) return text;
    let answer = null;
    try { answer = JSON.parse(text); } catch (_) { answer = null; }
    if (response.status === 401) toLogin();
    const error = new Error(answer && answer.message ? answer.message : `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = answer ? answer.code : "";
    throw error;
  }
  const api = async (method, path, payload) => {
    const text = await request(method, path, payload);
    return text ? JSON.parse(text) : null;
  };
  const fragment = (path) => request("GET", path, undefined, "text/html");

  function element(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }
  const esc = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  // --- live streams ------------------------------------------------------------------------
  const live = document.getElementById("live");
  function setLive(state, text) {
    if (!live) return;
    live.hidden = false;
    live.className = "live " + state;
    document.getElementById("live-text").textContent = text;
  }

  // An EventSource that comes back after an error: the browser resends the last event id by
  // itself; when it gives up (the stream answered an error), a new one starts after it.
  function stream(url, handlers, startAfter) {
    let source = null;
    let last = startAfter || "";
    let stopped = false;
    const open = () => {
      const sep = url.includes("?") ? "&" : "?";
      source = new EventSource(last ? `${url}${sep}${handlers.param || "since"}=${encodeURIComponent(last)}` : url);
      source.onopen = () => setLive("on", "live");
      source.onerror = () => {
        if (stopped) return;
        setLive("off", "reconnecting");
        if (source.readyState === EventSource.CLOSED) {
          api("GET", "/workers").catch(() => {});  // a session that has expired: to the login
          setTimeout(open, 3000);
        }
      };
      for (const type of handlers.types || eventTypes) {
        source.addEventListener(type, (event) => {
          if (event.lastEventId) last = event.lastEventId;
          handlers.on(type, event);
        });
      }
    };
    open();
    return { close() { stopped = true; if (source) source.close(); } };
  }

  // --- formatting --------------------------------------------------------------------------
  function age(seconds) {
    seconds = Math.max(0, seconds);
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
    }
    return `${Math.floor(seconds)} s`;
  }
  const fixed = (value, digits) => (value === null || value === undefined ? "" : Number(value).toFixed(digits));

  function tickAges(root) {
    const now = Date.now() / 1000;
    for (const cell of (root || document).querySelectorAll("td.age[data-since]")) {
      cell.textContent = age(now - Number(cell.dataset.since));
    }
  }

  // Coalesces refreshes of the same key within a short time.
  function batcher(run, delay) {
    const keys = new Set();
    let timer = null;
    return (key) => {
      keys.add(key);
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        const batch = [...keys];
        keys.clear();
        for (const item of batch) {
          try { await run(item); } catch (error) { if (error.status !== 404) console.warn(error); }
        }
      }, delay);
    };
  }

  // --- the runs table ----------------------------------------------------------------------
  function initRuns() {
    const tbody = document.querySelector("#runs tbody");
    const picked = [];  // run ids in the order they were ticked: the first is the baseline
    const compareButton = document.getElementById("compare");
    const statusFilter = document.getElementById("filter-status");
    const textFilter = document.getElementById("filter-text");
    let workers = Number(body.dataset.workers || 0);

    const rowOf = (id) => tbody.querySelector(`tr[data-run-id="${CSS.escape(id)}"]`);
    function filter(row) {
      const status = statusFilter.value;
      const text = textFilter.value.trim().toLowerCase();
      row.hidden = (status && row.dataset.status !== status) || (text && !row.dataset.search.includes(text));
    }
    function summary() {
      const rows = [...tbody.rows];
      const count = (status) => rows.filter((row) => row.dataset.status === status).length;
      const parts = [`${rows.length} run${rows.length === 1 ? "" : "s"}`, `${count("running")} running`,
        `${count("queued")} queued`, `${workers} worker${workers === 1 ? "" : "s"} alive`];
      document.getElementById("summary").textContent = parts.join(" · ");
      document.getElementById("empty").hidden = rows.length > 0;
    }
    function syncPicks() {
      for (const box of tbody.querySelectorAll("input.pick")) box.checked = picked.includes(box.value);
      compareButton.disabled = picked.length === 0;
      document.getElementById("clear-picks").hidden = picked.length === 0;
      compareButton.textContent = picked.length > 1 ? `Compare ${picked.length} runs` : "Compare";
      document.getElementById("pick-note").textContent = picked.length
        ? `baseline: ${picked[0]}` : "tick finished runs to compare them (the first ticked is the baseline)";
    }
    const refresh = batcher(async (id) => {
      let html;
      try {
        html = await fragment(`/ui/rows/${encodeURIComponent(id)}`);
      } catch (error) {
        if (error.status === 404 && rowOf(id)) rowOf(id).remove();
        throw error;
      }
      const row = element(html).firstElementChild;
      const old = rowOf(id);
      if (old) old.replaceWith(row); else tbody.prepend(row);
      const stillPickable = row.querySelector("input.pick:not([disabled])");
      if (!stillPickable && picked.includes(id)) picked.splice(picked.indexOf(id), 1);
      filter(row);
      tickAges(row);
      syncPicks();
      summary();
    }, 120);

    tbody.addEventListener("change", (event) => {
      const box = event.target.closest("input.pick");
      if (!box) return;
      const at = picked.indexOf(box.value);
      if (box.checked && at < 0) picked.push(box.value);
      if (!box.checked && at >= 0) picked.splice(at, 1);
      syncPicks();
    });
    for (const control of [statusFilter, textFilter]) {
      control.addEventListener("input", () => { for (const row of tbody.rows) filter(row); });
    }
    compareButton.addEventListener("click", () => compare([...picked]));
    document.getElementById("clear-picks").addEventListener("click", () => { picked.length = 0; syncPicks(); });

    function notice(html, kind) {
      const box = document.getElementById("notices");
      const item = element(`<p class="message ${kind || "note"}">${html}</p>`).firstElementChild;
      box.prepend(item);
      while (box.children.length > 3) box.lastElementChild.remove();
    }
    const params = new URLSearchParams(location.search);
    if (params.get("sweep")) {
      notice(`Sweep <b>${esc(params.get("sweep"))}</b> queued: ${esc(params.get("runs") || "")} runs; its comparison is written when the last one ends.`, "ok");
    }

    stream("/events", {
      on(type, event) {
        const data = JSON.parse(event.data);
        if (data.run_id) refresh(data.run_id);
        if (type === "service.heartbeat.v1") { workers = data.workers; summary(); }
        if (type === "sweep.finished.v1") {
          const link = data.comparison ? ` <a href="/ui/out/${encodeURI(data.comparison)}" target="_blank" rel="noopener">comparison.html</a>` : "";
          notice(`Sweep <b>${esc(data.sweep_id)}</b> ended: ${data.finished} of ${data.runs} runs finished.${link}${data.message ? " " + esc(data.message) : ""}`);
        }
      },
    }, body.dataset.since);

    setInterval(() => tickAges(tbody), 1000);
    tickAges(tbody);
    summary();
    syncPicks();
  }

  // --- the comparison ------------------------------------------------------------------------
  async function compare(runIds) {
    const section = document.getElementById("comparison");
    const button = document.getElementById("compare");
    section.hidden = false;
    section.innerHTML = `<h2>Comparison</h2><p class="note">comparing ${runIds.length} run${runIds.length === 1 ? "" : "s"}…</p>`;
    button.disabled = true;
    try {
      const result = await api("POST", "/compare", { run_ids: runIds });
      section.innerHTML = comparisonHtml(result, runIds);
    } catch (error) {
      section.innerHTML = `<h2>Comparison</h2><p class="message error">${esc(error.message)}</p>`;
    } finally {
      button.disabled = false;
    }
    section.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function comparisonHtml(result, runIds) {
    const models = result.models;
    const head = `<div class="toolbar"><h2>Comparison</h2><span class="spacer"></span>` +
      `<a class="button primary" id="comparison-page" href="/ui/out/${encodeURI(result.page)}" target="_blank" rel="noopener">comparison.html</a></div>` +
      `<p class="lead">baseline <b>${esc(result.baseline)}</b> · ${models.map(esc).join(", ")}</p>` +
      `<p class="note">runs ${runIds.map((id) => `<a href="/ui/runs/${encodeURIComponent(id)}">${esc(id)}</a>`).join(", ")}</p>`;
    const warnings = result.warnings.map((w) => `<p class="warning">${esc(w)}</p>`).join("");
    const headline = `<table class="metrics headline"><caption>Accuracy per split, with its 95% interval (Wilson; overlapping intervals are no verdict: see the paired tests)</caption>` +
      `<thead><tr><th>split</th><th>examples</th>${models.map((m) => `<th>${esc(m)}</th>`).join("")}</tr></thead><tbody>` +
      result.headline.map((row) => {
        const best = Math.max(...models.map((m) => (row[m] === null ? -1 : row[m])));
        const cells = models.map((m) => {
          if (row[m] === null || row[m] === undefined) return "<td></td>";
          const ci = row[`${m} low`] === null ? "" : ` <span class="ci">[${fixed(row[`${m} low`], 3)}, ${fixed(row[`${m} high`], 3)}]</span>`;
          return `<td${models.length > 1 && row[m] === best ? ' class="best-cell"' : ""}>${fixed(row[m], 3)}${ci}</td>`;
        }).join("");
        return `<tr><th>${esc(row.split)}</th><td>${esc(row.examples ?? "")}</td>${cells}</tr>`;
      }).join("") + "</tbody></table>";
    let paired = "";
    if (result.paired.length) {
      paired = `<h3>Paired tests against ${esc(result.baseline)}</h3>` +
        `<table class="metrics paired"><caption>On the same examples (exact McNemar; p &lt; 0.05: the accuracy difference is unlikely to be chance)</caption>` +
        `<thead><tr><th>split</th><th>model</th><th>accuracy difference</th><th>only model right</th><th>only ${esc(result.baseline)} right</th><th>p-value</th><th>significant</th></tr></thead><tbody>` +
        result.paired.map((row) => {
          const diff = Number(row.difference);
          const significant = row.p_value !== null && row.p_value < 0.05;
          return `<tr><td>${esc(row.split)}</td><td>${esc(row.model)}</td><td>${diff >= 0 ? "+" : ""}${diff.toFixed(4)}</td>` +
            `<td>${esc(row.only_model_correct)}</td><td>${esc(row.only_baseline_correct)}</td><td>${fixed(row.p_value, 4)}</td>` +
            `<td class="${significant ? "yes" : ""}">${significant ? "yes" : "no"}</td></tr>`;
        }).join("") + "</tbody></table>";
    } else if (models.length > 1) {
      paired = `<p class="note">No paired tests: the runs were not evaluated on the same examples.</p>`;
    }
    const text = `<details><summary>as the console prints it</summary><pre>${esc(result.text)}</pre></details>`;
    return head + warnings + headline + paired + text;
  }

  // --- a run ----------------------------------------------------------------------------------
  const SERIES = {
    accuracy: [["metrics/train/accuracy", "train", "train"], ["metrics/val/accuracy", "validation", "val"]],
    loss: [["metrics/train/loss", "train", "train"], ["metrics/val/loss", "validation", "val"]],
  };
  const SVG = "http://www.w3.org/2000/svg";
  function svgNode(parent, name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function niceTicks(low, high, count) {
    const span = high - low || Math.abs(high) || 1;
    const raw = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => span / s <= count) || 10 * power;
    const first = Math.floor(low / step) * step;
    const ticks = [];
    for (let value = first; value <= high + step * 0.999; value += step) ticks.push(Number(value.toFixed(10)));
    return ticks;
  }

  // One chart: each line's points (epoch, value) with the epochs planned on the x axis.
  function drawChart(svg, lines, planned, options) {
    const W = 560, H = 270, M = { left: 56, right: 14, top: 30, bottom: 36 };
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    const points = lines.flatMap((line) => line.points);
    if (!points.length) {
      svgNode(svg, "text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no epoch yet");
      return;
    }
    const lastEpoch = Math.max(...points.map((p) => p[0]));
    const xHigh = Math.max(lastEpoch, planned || 0, 2);
    const values = points.map((p) => p[1]);
    let yLow = Math.min(...values), yHigh = Math.max(...values);
    const pad = (yHigh - yLow) * 0.08 || 0.02;
    const positive = yLow >= 0;
    yLow -= pad; yHigh += pad;
    if (positive) yLow = Math.max(0, yLow);
    if (options.unit) { yLow = Math.max(0, yLow); yHigh = Math.min(1, yHigh); }
    const yTicks = niceTicks(yLow, yHigh, 5);
    yLow = Math.min(yLow, yTicks[0]); yHigh = Math.max(yHigh, yTicks[yTicks.length - 1]);
    const xTicks = niceTicks(1, xHigh, 8).filter((t) => t >= 1 && Number.isInteger(t));
    const x = (epoch) => M.left + ((epoch - 1) / Math.max(1, xHigh - 1)) * (W - M.left - M.right);
    const y = (value) => H - M.bottom - ((value - yLow) / (yHigh - yLow || 1)) * (H - M.top - M.bottom);
    const grid = svgNode(svg, "g");
    const step = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 0.1;
    const digits = Math.min(6, Math.max(1, Math.ceil(-Math.log10(step) - 1e-9)));
    for (const tick of yTicks) {
      if (tick < yLow - 1e-9 || tick > yHigh + 1e-9) continue;
      svgNode(grid, "line", { x1: M.left, x2: W - M.right, y1: y(tick), y2: y(tick), class: "grid" });
      svgNode(grid, "text", { x: M.left - 6, y: y(tick) + 4, "text-anchor": "end" }, tick.toFixed(digits));
    }
    for (const tick of xTicks) {
      svgNode(grid, "text", { x: x(tick), y: H - M.bottom + 15, "text-anchor": "middle" }, String(tick));
    }
    svgNode(grid, "line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: "axis" });
    svgNode(grid, "line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: "axis" });
    svgNode(grid, "text", { x: (M.left + W - M.right) / 2, y: H - 4, "text-anchor": "middle" }, "epoch");
    svgNode(svg, "text", { x: M.left, y: 18, class: "title" }, options.title);
    const radius = lastEpoch > 60 ? 1.6 : lastEpoch > 25 ? 2.4 : 3.2;
    let legendX = W - M.right - lines.reduce((sum, line) => sum + 34 + line.label.length * 6.5, 0);
    for (const line of lines) {
      const group = svgNode(svg, "g", { class: `series ${line.cls}`, "data-series": line.name });
      if (line.points.length > 1) {
        svgNode(group, "polyline", { points: line.points.map((p) => `${x(p[0])},${y(p[1])}`).join(" ") });
      }
      for (const [epoch, value] of line.points) {
        const dot = svgNode(group, "circle", { cx: x(epoch), cy: y(value), r: radius, class: "point" });
        svgNode(dot, "title", {}, `${line.label}, epoch ${epoch}: ${value.toFixed(4)}`);
      }
      const legend = svgNode(svg, "g", { class: `legend ${line.cls}` });
      svgNode(legend, "line", { x1: legendX, x2: legendX + 18, y1: 14, y2: 14, class: "swatch" });
      svgNode(legend, "text", { x: legendX + 23, y: 18 }, line.label);
      legendX += 34 + line.label.length * 6.5;
    }
    if (options.best) {
      const [epoch, value] = options.best;
      const ring = svgNode(svg, "circle", { cx: x(epoch), cy: y(value), r: 7, class: "best" });
      svgNode(ring, "title", {}, `best validation accuracy ${value.toFixed(4)} at epoch ${epoch}`);
    }
  }

  function initRun() {
    const runId = body.dataset.runId;
    const path = `/runs/${encodeURIComponent(runId)}`;
    const panel = document.getElementById("panel");
    const series = new Map();  // name -> Map(epoch (1-based) -> value)
    let planned = Number(body.dataset.maxEpochs || 0);
    let drawScheduled = false;

    let byStep = false; // the run validates inside epochs: x is epochs trained, fractional
    function add(name, epoch, value) {
      if (!series.has(name)) series.set(name, new Map());
      series.get(name).set(epoch, value);
    }
    function draw() {
      if (drawScheduled) return;
      drawScheduled = true;
      requestAnimationFrame(() => {
        drawScheduled = false;
        const lines = (names) => names.filter(([name]) => series.has(name)).map(([name, label, cls]) => ({
          name, label, cls, points: [...series.get(name).entries()].sort((a, b) => a[0] - b[0]),
        }));
        const val = series.get("metrics/val/accuracy");
        let best = null;
        if (val) for (const [epoch, value] of val) if (!best || value > best[1]) best = [epoch, value];
        drawChart(document.getElementById("chart-accuracy"), lines(SERIES.accuracy), planned, { unit: true, best, title: "accuracy" });
        drawChart(document.getElementById("chart-loss"), lines(SERIES.loss), planned, { title: "loss" });
        const epochs = val ? val.size : 0;
        const unit = byStep ? "validation" : "epoch";
        const at = best ? (byStep ? `after ${best[0].toFixed(2)} epochs` : `epoch ${best[0]}`) : "";
        document.getElementById("curve-note").textContent = epochs
          ? `${epochs} ${unit}${epochs === 1 ? "" : "s"}${planned && !byStep ? ` of ${planned}` : ""}${best ? ` · best validation accuracy ${best[1].toFixed(4)} (${at})` : ""}`
          : "";
      });
    }

    const refreshPanel = batcher(async () => {
      panel.replaceChildren(element(await fragment(`/ui/runs/${encodeURIComponent(runId)}/panel`)));
    }, 100);

    panel.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      button.disabled = true;
      const error = document.getElementById("action-error");
      try {
        await api("POST", `${path}/${button.dataset.action}`);
        if (error) error.hidden = true;
        if (button.dataset.action === "resume") followLog();
      } catch (failure) {
        if (error) { error.textContent = failure.message; error.hidden = false; }
        button.disabled = false;
        return;
      }
      refreshPanel("panel");
    });

    // The log: `log` events carry the new text (a JSON string), `end` that the run ended.
    const log = document.getElementById("log");
    const follow = document.getElementById("log-follow");
    const state = document.getElementById("log-state");
    const LOG_LIMIT = 2_000_000;
    let offset = 0;
    let logStream = null;
    let logEnded = false;
    function append(text) {
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(document.createTextNode(text));
      if (log.textContent.length > LOG_LIMIT) log.textContent = "…\n" + log.textContent.slice(-LOG_LIMIT / 2);
      if (follow.checked || atEnd) log.scrollTop = log.scrollHeight;
    }
    function followLog() {
      if (logStream) logStream.close();
      logEnded = false;
      state.textContent = "following";
      logStream = stream(`${path}/logs/stream`, {
        param: "offset",
        types: ["log", "end"],
        on(type, event) {
          if (type === "log") {
            append(JSON.parse(event.data));
            offset = Number(event.lastEventId) || offset;
          } else {
            offset = Number(JSON.parse(event.data)) || offset;
            logEnded = true;
            state.textContent = "the run has ended: the whole log";
            logStream.close();
          }
        },
      }, offset ? String(offset) : "");
    }

    // x: epochs trained; a run validating inside epochs logs them (metrics/epoch/progress)
    api("GET", `${path}/metrics`).then((metrics) => {
      const progress = new Map(metrics.series["metrics/epoch/progress"] || []);
      if (progress.size) byStep = true;
      for (const [name, points] of Object.entries(metrics.series)) {
        if (![...SERIES.accuracy, ...SERIES.loss].some(([known]) => known === name)) continue;
        for (const [step, value] of points) add(name, progress.get(step) ?? step + 1, value);
      }
      draw();
    }).catch(() => draw());
    draw();

    stream(`${path}/events`, {
      on(type, event) {
        const data = JSON.parse(event.data);
        if (type === "run.epoch.v1") {
          if (data.max_epochs) planned = data.max_epochs;
          if (data.step !== null && data.step !== undefined) byStep = true;
          const x = data.metrics["metrics/epoch/progress"] ?? data.epoch + 1;
          for (const [name, value] of Object.entries(data.metrics)) add(name, x, value);
          draw();
        }
        if ((type === "run.queued.v1" || type === "run.started.v1") && logEnded) followLog();
        refreshPanel("panel");
      },
    });

    followLog();
    document.getElementById("log-top").addEventListener("click", (event) => {
      event.preventDefault();
      follow.checked = false;
      log.scrollTop = 0;
    });
  }

  // --- the submit form -------------------------------------------------------------------------
  // Overrides as the shell would split them: spaces and new lines, but not inside [], {}, ()
  // or quotes; a token wholly in quotes loses them.
  function splitOverrides(text) {
    const tokens = [];
    let current = "", depth = 0, quote = "";
    for (const char of text) {
      if (quote) { current += char; if (char === quote) quote = ""; continue; }
      if (char === "'" || char === '"') { quote = char; current += char; continue; }
      if ("[{(".includes(char)) depth += 1;
      if ("]})".includes(char)) depth = Math.max(0, depth - 1);
      if (/\s/.test(char) && depth === 0) { if (current) tokens.push(current); current = ""; continue; }
      current += char;
    }
    if (current) tokens.push(current);
    return tokens.map((t) => (t.length > 1 && (t[0] === "'" || t[0] === '"') && t[t.length - 1] === t[0] ? t.slice(1, -1) : t));
  }
  const shellWord = (word) => (/^[A-Za-z0-9_.=\/:,+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

  function initSubmit() {
    const form = document.getElementById("submit-form");
    const field = (id) => document.getElementById(id);
    const error = field("submit-error");
    const button = field("submit");
    const userModels = field("user-models");

    function seeds() {
      const text = field("seeds").value.trim();
      if (!text) return [];
      const parts = text.split(/[\s,]+/).filter(Boolean);
      if (parts.some((part) => !/^\d+$/.test(part))) throw new Error("seeds: whole numbers, e.g. 0 or 0,1,2");
      return [...new Set(parts.map(Number))];
    }
    function compose() {
      const overrides = [`model=${field("model").value}`];
      const searchpath = field("searchpath").value.trim();
      if (searchpath) overrides.push(`hydra.searchpath=[file://${searchpath.replace(/^file:\/\//, "")}]`);
      if (field("dataset").value !== "all_4dir") overrides.push(`data=${field("dataset").value}`);
      if (field("size").value !== "default") overrides.push(`data.size=${field("size").value}`);
      if (field("minutes").value) overrides.push(`trainer.max_minutes=${field("minutes").value}`);
      if (field("epochs").value) overrides.push(`trainer.max_epochs=${field("epochs").value}`);
      const chosen = seeds();
      if (chosen.length) overrides.push(`seed=${chosen.join(",")}`);
      overrides.push(...splitOverrides(field("overrides").value));
      return { overrides, sweep: chosen.length > 1 };
    }
    function preview() {
      try {
        const { overrides, sweep } = compose();
        field("command").textContent = `storyqa-service ${sweep ? "sweep" : "submit"} ${overrides.map(shellWord).join(" ")}`;
        button.textContent = sweep ? `Queue sweep (${seeds().length} runs)` : "Queue run";
      } catch (failure) {
        field("command").textContent = failure.message;
      }
    }
    form.addEventListener("input", preview);
    form.addEventListener("change", preview);
    preview();

    let lookup = null;
    field("searchpath").addEventListener("input", () => {
      clearTimeout(lookup);
      lookup = setTimeout(async () => {
        const folder = field("searchpath").value.trim();
        userModels.replaceChildren();
        userModels.hidden = true;
        const note = field("searchpath-note");
        if (!folder) return;
        try {
          const found = await api("GET", `/ui/models?searchpath=${encodeURIComponent(folder)}`);
          for (const name of found.models) addOption(userModels, name);
          userModels.hidden = !found.models.length;
          note.textContent = found.models.length
            ? `${found.models.length} model config${found.models.length === 1 ? "" : "s"} found: ${found.models.join(", ")}`
            : "no model/<name>.yaml in that folder";
          if (found.models.length) { field("model").value = found.models[0]; preview(); }
        } catch (failure) {
          note.textContent = failure.message;
        }
      }, 300);
    });
    function addOption(group, name) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      group.appendChild(option);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      let composed;
      try { composed = compose(); } catch (failure) {
        error.textContent = failure.message; error.hidden = false; return;
      }
      button.disabled = true;
      try {
        if (composed.sweep) {
          const sweep = await api("POST", "/sweeps", { overrides: composed.overrides });
          location.assign(`/?sweep=${encodeURIComponent(sweep.sweep_id)}&runs=${sweep.runs.length}`);
        } else {
          const run = await api("POST", "/runs", { overrides: composed.overrides });
          location.assign(`/ui/runs/${encodeURIComponent(run.run_id)}`);
        }
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        button.disabled = false;
      }
    });
  }

  const pages = { runs: initRuns, run: initRun, submit: initSubmit };
  if (pages[body.dataset.page]) pages[body.dataset.page]();
})();
