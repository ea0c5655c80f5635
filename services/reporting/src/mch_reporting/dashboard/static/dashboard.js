/* The dashboard: reads the reporting API with the user's bearer token and draws an org unit's
   indicators, the units below it, and a monthly trend. The URL holds what is shown (org unit,
   period, view, language, indicator), so a link can be shared; the token never goes in it except
   in the fragment of a first link, which browsers do not send to the server and which is removed
   at once. Plain JavaScript, no build step, nothing from another host. */
"use strict";

(function () {
  const I18N = window.MCH_I18N;
  const GROUPS = window.MCH_GROUPS;
  const LOWER_IS_BETTER = new Set(window.MCH_LOWER_IS_BETTER);
  const CONFIG = JSON.parse(document.body.dataset.config || "{}");
  const ROOT = CONFIG.root || "";
  const TOKEN_KEY = "mch.dashboard.token";
  const POLL_MS = 5000;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  const state = {
    orgunit: null, period: null, view: "residence", lang: "vi", indicator: "U5_MEASURED",
    months: 12, sort: "worst",
  };
  /* What the API last answered, kept to redraw in another language without asking again. */
  const data = { unit: null, answer: null, children: null, series: null, parentSeries: null,
    targets: new Map(), answerKey: "" };
  let token = null;
  let loadSeq = 0;
  let polling = false;

  class AuthError extends Error {}
  class ApiError extends Error {
    constructor(status, detail) { super(detail || String(status)); this.status = status; }
  }

  /* ---------- words, numbers, dates ---------- */

  function t(key, vars) {
    const words = I18N[state.lang];
    let text = words[key] !== undefined ? words[key] : key;
    for (const [k, v] of Object.entries(vars || {})) text = text.split(`{${k}}`).join(String(v));
    return text;
  }
  const locale = () => I18N[state.lang].locale;
  const indicatorName = (code) => I18N[state.lang].names[code] || code;
  const count = (n) => (n === null || n === undefined ? "–" : new Intl.NumberFormat(locale()).format(n));
  function percent(v) {
    if (v === null || v === undefined) return "–";
    return new Intl.NumberFormat(locale(), { style: "percent", minimumFractionDigits: 1,
      maximumFractionDigits: 1 }).format(v);
  }
  function when(iso) {
    if (!iso) return "–";
    return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "short" })
      .format(new Date(iso));
  }
  function monthName(m) {
    return new Intl.DateTimeFormat(locale(), { month: "long", timeZone: "UTC" })
      .format(new Date(Date.UTC(2000, m - 1, 1)));
  }
  function shortMonth(code) {
    const [y, m] = code.split("-").map(Number);
    return new Intl.DateTimeFormat(locale(), { month: "short", year: "2-digit", timeZone: "UTC" })
      .format(new Date(Date.UTC(y, m - 1, 1)));
  }

  /* ---------- periods ---------- */

  function parsePeriod(code) {
    let m;
    if ((m = /^(\d{4})-(\d{2})$/.exec(code))) return { kind: "month", year: +m[1], part: +m[2] };
    if ((m = /^(\d{4})Q([1-4])$/.exec(code))) return { kind: "quarter", year: +m[1], part: +m[2] };
    if ((m = /^(\d{4})S([12])$/.exec(code))) return { kind: "half", year: +m[1], part: +m[2] };
    if ((m = /^(\d{4})-9M$/.exec(code))) return { kind: "nine", year: +m[1], part: 0 };
    if ((m = /^(\d{4})$/.exec(code))) return { kind: "year", year: +m[1], part: 0 };
    return null;
  }
  function periodCode(p) {
    const pad = (n) => String(n).padStart(2, "0");
    switch (p.kind) {
      case "month": return `${p.year}-${pad(p.part)}`;
      case "quarter": return `${p.year}Q${p.part}`;
      case "half": return `${p.year}S${p.part}`;
      case "nine": return `${p.year}-9M`;
      default: return String(p.year);
    }
  }
  function periodLabel(code) {
    const p = parsePeriod(code);
    if (!p) return code;
    switch (p.kind) {
      case "month": return t("period_month", { m: p.part, name: monthName(p.part), y: p.year });
      case "quarter": return t("period_quarter", { q: p.part, y: p.year });
      case "half": return t(p.part === 1 ? "period_half1" : "period_half2", { y: p.year });
      case "nine": return t("period_nine", { y: p.year });
      default: return t("period_year_label", { y: p.year });
    }
  }
  /* The last month of a period, where its trend ends. */
  function lastMonth(code) {
    const p = parsePeriod(code);
    const month = { month: p.part, quarter: 3 * p.part, half: 6 * p.part, nine: 9, year: 12 }[p.kind];
    return { year: p.year, month };
  }
  function monthsBack(end, n) {
    const index = end.year * 12 + (end.month - 1) - (n - 1);
    const y = Math.floor(index / 12);
    return `${y}-${String((index % 12) + 1).padStart(2, "0")}`;
  }
  function thisMonth() {
    const now = new Date();
    return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  }

  /* ---------- the URL and the token ---------- */

  function readUrl() {
    const q = new URLSearchParams(location.search);
    state.orgunit = q.get("orgunit") || state.orgunit;
    const period = q.get("period");
    state.period = period && parsePeriod(period) ? period : state.period || thisMonth();
    state.view = q.get("view") === "facility" ? "facility" : "residence";
    state.lang = q.get("lang") === "en" ? "en" : "vi";
    const indicator = q.get("indicator");
    if (indicator && I18N.vi.names[indicator]) state.indicator = indicator;
    state.months = q.get("months") === "24" ? 24 : 12;
  }
  function url(overrides) {
    const s = Object.assign({}, state, overrides || {});
    const q = new URLSearchParams();
    if (s.orgunit) q.set("orgunit", s.orgunit);
    q.set("period", s.period);
    q.set("view", s.view);
    q.set("lang", s.lang);
    q.set("indicator", s.indicator);
    if (s.months !== 12) q.set("months", String(s.months));
    return `${location.pathname}?${q}`;
  }
  function remember(push) {
    const target = url();
    if (target === location.pathname + location.search) return;
    if (push) history.pushState(null, "", target);
    else history.replaceState(null, "", target);
  }
  function takeTokenFromFragment() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const given = fragment.get("token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      // Out of the address bar, the history and any link copied from it.
      history.replaceState(null, "", location.pathname + location.search);
    }
    token = sessionStorage.getItem(TOKEN_KEY);
  }
  function tokenClaims() {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(part))));
    } catch (e) {
      return {};
    }
  }
  function tokenAreas() {
    const areas = tokenClaims().orgunits;
    return Array.isArray(areas) ? areas : [];
  }

  /* ---------- the API ---------- */

  async function api(path, params) {
    const target = new URL(ROOT + path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== null && v !== undefined) target.searchParams.set(k, v);
    }
    const response = await fetch(target, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401) throw new AuthError();
    if (!response.ok) {
      let detail = null;
      try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, typeof detail === "string" ? detail : null);
    }
    return response.json();
  }

  /* ---------- drawing ---------- */

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function translateStatic() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const node of document.querySelectorAll("[data-i18n-aria-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
    }
    const other = state.lang === "vi" ? "en" : "vi";
    const button = $("lang-switch");
    button.textContent = t("other");
    button.lang = other;
  }

  function drawPeriodControls() {
    const p = parsePeriod(state.period);
    $("period-kind").value = p.kind;
    $("period-year").value = p.year;
    const part = $("period-part");
    part.replaceChildren();
    if (p.kind === "month") {
      for (let m = 1; m <= 12; m++) part.append(el("option", { value: m, text: t("month_n", { n: m, name: monthName(m) }) }));
    } else if (p.kind === "quarter") {
      for (let q = 1; q <= 4; q++) part.append(el("option", { value: q, text: t("quarter_n", { n: q }) }));
    } else if (p.kind === "half") {
      part.append(el("option", { value: 1, text: t("half_1") }), el("option", { value: 2, text: t("half_2") }));
    }
    part.hidden = part.options.length === 0;
    if (!part.hidden) part.value = String(p.part);
    $("view").value = state.view;
    $("months").value = String(state.months);
  }

  function drawIndicatorChoice() {
    const select = $("indicator");
    select.replaceChildren();
    for (const [group, codes] of GROUPS) {
      const optgroup = el("optgroup", { label: t(`group_${group}`) });
      for (const code of codes) optgroup.append(el("option", { value: code, text: indicatorName(code) }));
      select.append(optgroup);
    }
    select.value = state.indicator;
  }

  function canRead(code) {
    const areas = tokenAreas();
    if (areas.includes("VN") || areas.includes(code)) return true;
    const unit = data.unit;
    if (!unit) return false;
    const chain = unit.ancestors.map((a) => a.code).concat([unit.code]);
    const at = chain.indexOf(code);
    return at >= 0 && chain.slice(0, at).some((c) => areas.includes(c));
  }

  function unitLabel(u) {
    return `${u.name}`;
  }

  function drawHeading() {
    const unit = data.unit;
    $("unit-title").textContent = unit ? unitLabel(unit) : state.orgunit || "";
    const parts = [];
    if (unit) parts.push(`${t(`level_${unit.level}`)} · ${unit.code}`);
    parts.push(periodLabel(state.period));
    parts.push(t(state.view === "facility" ? "view_facility" : "view_residence"));
    const asOf = data.answer && data.answer.as_of;
    parts.push(asOf ? t("as_of", { t: when(asOf) }) : t("as_of_none"));
    $("subtitle").textContent = parts.join(" · ");
    const crumbs = $("breadcrumb");
    crumbs.replaceChildren();
    if (!unit) { crumbs.hidden = true; return; }
    const list = el("ol");
    for (const a of unit.ancestors) {
      const item = canRead(a.code)
        ? el("a", { href: url({ orgunit: a.code }), "data-orgunit": a.code, "data-key": `crumb-${a.code}`, text: a.name })
        : el("span", { text: a.name });
      list.append(el("li", {}, item));
    }
    list.append(el("li", {}, el("span", { "aria-current": "page", text: unit.name })));
    crumbs.append(list);
    crumbs.hidden = false;
  }

  function rowsByCode(values) {
    const totals = new Map();
    const bySex = new Map();
    for (const v of values || []) {
      if (v.sex) bySex.set(`${v.indicator}:${v.sex}`, v);
      else totals.set(v.indicator, v);
    }
    return { totals, bySex };
  }

  function targetText(code) {
    const target = data.targets.get(code);
    if (!target) return "";
    return target.at_least !== null && target.at_least !== undefined
      ? t("at_least", { v: percent(target.at_least) })
      : t("at_most", { v: percent(target.at_most) });
  }
  function missed(code, value) {
    const target = data.targets.get(code);
    if (!target || value === null || value === undefined) return false;
    if (target.at_least !== null && target.at_least !== undefined) return value < target.at_least;
    return target.at_most !== null && target.at_most !== undefined && value > target.at_most;
  }
  function valueCell(row, code) {
    const cell = el("td", { class: "n val" });
    if (!row || row.numerator === null || row.numerator === undefined) {
      cell.append(el("span", { class: "v", text: "–" }));
      if (row && row.suppressed) cell.title = t("suppressed");
      return cell;
    }
    cell.append(el("span", { class: "v", text: row.denominator === null || row.denominator === undefined ? "–" : percent(row.value) }));
    if (missed(code, row.value)) {
      cell.append(" ", el("span", { class: "mark", "aria-hidden": "true", text: "▼" }),
        el("span", { class: "sr", text: t("below_target") }));
    }
    return cell;
  }
  function sexText(bySex, code) {
    const boys = bySex.get(`${code}:M`);
    const girls = bySex.get(`${code}:F`);
    if (!boys && !girls) return "";
    const one = (r) => {
      if (!r || r.numerator === null || r.numerator === undefined) return "–";
      return r.denominator === null || r.denominator === undefined ? count(r.numerator) : percent(r.value);
    };
    return `${one(boys)} / ${one(girls)}`;
  }

  function drawGroups() {
    const holder = $("groups");
    holder.replaceChildren();
    if (!data.answer) return;
    const { totals, bySex } = rowsByCode(data.answer.values);
    for (const [group, codes] of GROUPS) {
      const body = el("tbody");
      for (const code of codes) {
        const row = totals.get(code);
        const pick = el("button", {
          type: "button", class: "pick", "data-pick": code, "data-key": `pick-${code}`,
          "aria-pressed": String(code === state.indicator), title: t("choose_indicator"),
          text: indicatorName(code),
        });
        const suppressed = row && (row.numerator === null || row.numerator === undefined);
        body.append(el("tr", {
          "data-indicator": code,
          class: row && missed(code, row.value) ? "miss" : null,
          title: suppressed && row.suppressed ? t("suppressed") : null,
        },
        el("th", { scope: "row" }, pick),
        el("td", { class: "n num", text: count(row ? row.numerator : null) }),
        el("td", { class: "n den", text: count(row ? row.denominator : null) }),
        valueCell(row, code),
        el("td", { class: "n target col-target", text: targetText(code) }),
        el("td", { class: "n sex col-sex", text: sexText(bySex, code) }),
        el("td", { class: "when col-when", text: row ? when(row.as_of) : "–" })));
      }
      const head = el("tr", {},
        el("th", { scope: "col", text: t("col_indicator") }),
        el("th", { scope: "col", class: "n", text: t("col_numerator") }),
        el("th", { scope: "col", class: "n", text: t("col_denominator") }),
        el("th", { scope: "col", class: "n", text: t("col_value") }),
        el("th", { scope: "col", class: "n col-target", text: t("col_target") }),
        el("th", { scope: "col", class: "n col-sex", text: t("col_sex") }),
        el("th", { scope: "col", class: "col-when", text: t("col_as_of") }));
      holder.append(el("section", { class: "card group", id: `group-${group}`, "aria-labelledby": `group-${group}-title` },
        el("h2", { id: `group-${group}-title`, text: t(`group_${group}`) }),
        el("div", { class: "scroll" }, el("table", { class: "data" }, el("thead", {}, head), body))));
    }
  }

  function childName(code) {
    const found = data.unit && data.unit.children.find((c) => c.code === code);
    return found ? found.name : code;
  }

  function drawChildren() {
    const body = $("children").querySelector("tbody");
    body.replaceChildren();
    const answers = (data.children && data.children.children) || [];
    $("children-empty").textContent = t(data.children === undefined ? "loading" : "children_none");
    $("children-empty").hidden = answers.length > 0;
    $("children").hidden = answers.length === 0;
    const rows = answers.map((a) => {
      const total = a.values.find((v) => v.indicator === state.indicator && !v.sex) || null;
      return { code: a.orgunit, name: childName(a.orgunit), row: total };
    });
    const worse = LOWER_IS_BETTER.has(state.indicator) ? -1 : 1;
    const val = (r) => (r.row && r.row.denominator !== null && r.row.value !== null && r.row.value !== undefined
      ? r.row.value : r.row && r.row.numerator !== null && r.row.denominator === null ? r.row.numerator : null);
    const collator = new Intl.Collator(locale());
    rows.sort((a, b) => {
      if (state.sort === "name") return collator.compare(a.name, b.name);
      const va = val(a);
      const vb = val(b);
      if (va === null && vb === null) return collator.compare(a.name, b.name);
      if (va === null) return 1;
      if (vb === null) return -1;
      return worse * (va - vb) || collator.compare(a.name, b.name);
    });
    for (const r of rows) {
      const link = el("a", { href: url({ orgunit: r.code }), "data-orgunit": r.code, "data-key": `child-${r.code}`, text: r.name });
      body.append(el("tr", { "data-orgunit": r.code, class: r.row && missed(state.indicator, r.row.value) ? "miss" : null },
        el("th", { scope: "row" }, link, " ", el("span", { class: "sex", text: r.code })),
        el("td", { class: "n num", text: count(r.row ? r.row.numerator : null) }),
        el("td", { class: "n den", text: count(r.row ? r.row.denominator : null) }),
        valueCell(r.row, state.indicator)));
    }
    for (const button of document.querySelectorAll("#children .sort")) {
      const active = button.dataset.sort === (state.sort === "name" ? "name" : "value");
      button.setAttribute("aria-sort", active ? (state.sort === "name" ? "ascending" : "other") : "none");
      button.title = t(button.dataset.sort === "name" ? "sort_name" : "sort_worst");
    }
  }

  function drawTrend() {
    const figure = $("trend");
    figure.replaceChildren();
    if (data.series === undefined) {
      figure.append(el("p", { class: "muted", text: t("loading") }));
      return;
    }
    const points = (data.series && data.series.values || []).filter((v) => !v.sex);
    const parentPoints = (data.parentSeries && data.parentSeries.values || []).filter((v) => !v.sex);
    const end = lastMonth(state.period);
    const first = monthsBack(end, state.months);
    const all = [];
    for (let i = state.months; i >= 1; i--) all.push(monthsBack(end, i));
    const isCount = points.some((p) => p.denominator === null && p.numerator !== null);
    const measure = (p) => (isCount ? p.numerator : p.value);
    const series = [[points, "unit"], [parentPoints, "parent"]];
    const values = [];
    for (const [list] of series) for (const p of list) if (measure(p) !== null && measure(p) !== undefined) values.push(measure(p));
    const target = data.targets.get(state.indicator);
    const targetValue = !isCount && target ? (target.at_least ?? target.at_most) : null;
    let top = isCount ? Math.max(1, ...values) : Math.max(0.1, ...values, targetValue || 0);
    if (!isCount) top = Math.min(1, Math.ceil(top * 10) / 10) || 0.1;
    const W = 640, H = 240, L = 52, R = 30, T = 12, B = 30;
    const x = (i) => L + (all.length === 1 ? 0 : (i * (W - L - R)) / (all.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    const make = (tag, attrs, text) => {
      const node = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      svg.append(make("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#d5dbe1" }));
      svg.append(make("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5a6470" },
        isCount ? count(Math.round(v)) : percent(v)));
    }
    const step = all.length > 12 ? 3 : 2;
    all.forEach((m, i) => {
      if (i % step === (all.length - 1) % step) {
        svg.append(make("text", { x: x(i), y: H - 10, "text-anchor": "middle", "font-size": 11, fill: "#5a6470" }, shortMonth(m)));
      }
    });
    if (targetValue !== null && targetValue !== undefined) {
      svg.append(make("line", { x1: L, x2: W - R, y1: y(targetValue), y2: y(targetValue), stroke: "#b3261e",
        "stroke-dasharray": "2 4", "stroke-width": 2, class: "target-line" }));
    }
    const unitName = data.unit ? data.unit.name : state.orgunit;
    const parent = data.unit && data.unit.ancestors.length ? data.unit.ancestors[data.unit.ancestors.length - 1] : null;
    for (const [list, kind] of series) {
      const byMonth = new Map(list.map((p) => [p.period, p]));
      let path = "";
      let pen = false;
      all.forEach((m, i) => {
        const p = byMonth.get(m);
        const v = p ? measure(p) : null;
        if (v === null || v === undefined) { pen = false; return; }
        path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        const dot = make("circle", { cx: x(i), cy: y(v), r: 3, fill: kind === "unit" ? "#0b5394" : "#7a8591" });
        dot.append(make("title", {}, `${kind === "unit" ? unitName : parent && parent.name} · ${shortMonth(m)}: ${isCount ? count(v) : percent(v)}`));
        svg.append(dot);
      });
      if (path) {
        svg.append(make("path", { d: path, fill: "none", stroke: kind === "unit" ? "#0b5394" : "#7a8591",
          "stroke-width": kind === "unit" ? 2.5 : 2, "stroke-dasharray": kind === "unit" ? "" : "6 4", class: `line-${kind}` }));
      }
    }
    const caption = parent && data.parentSeries
      ? t("trend_caption", { i: indicatorName(state.indicator), u: unitName, p: parent.name, a: shortMonth(first), b: shortMonth(all[all.length - 1]) })
      : t("trend_caption_alone", { i: indicatorName(state.indicator), u: unitName, a: shortMonth(first), b: shortMonth(all[all.length - 1]) });
    svg.setAttribute("aria-label", caption);
    const legend = el("div", { class: "legend" }, el("span", { class: "unit", text: unitName }));
    if (parent && data.parentSeries) legend.append(el("span", { class: "parent", text: parent.name }));
    if (targetValue !== null && targetValue !== undefined) legend.append(el("span", { class: "target", text: `${t("legend_target")} ${targetText(state.indicator)}` }));
    figure.append(svg, el("figcaption", { class: "muted", text: caption }), legend);
  }

  function exportHref(kind, children) {
    const q = new URLSearchParams({ orgunit: state.orgunit, period: state.period, view: state.view });
    if (children) q.set("children", "true");
    return `${ROOT}/v1/exports/${kind}?${q}`;
  }
  function drawLinks() {
    $("csv-link").href = exportHref("csv", false);
    $("csv-children-link").href = exportHref("csv", true);
    $("dhis2-link").href = exportHref("dhis2", false);
    $("dhis2-children-link").href = exportHref("dhis2", true);
    const item = $("defaulters-item");
    item.hidden = !CONFIG.immunization;
    if (CONFIG.immunization) {
      const q = new URLSearchParams({ orgunit: state.orgunit });
      $("defaulters-link").href = `${CONFIG.immunization}/lists/defaulters?${q}`;
    }
  }

  /* Redraw everything from what is held, keeping the focused control focused. */
  function draw() {
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.key : null;
    translateStatic();
    drawPeriodControls();
    drawIndicatorChoice();
    drawHeading();
    drawGroups();
    drawChildren();
    drawTrend();
    drawLinks();
    if (focused) {
      const again = document.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  /* What is on screen, for whoever waits for it (a test, an assistive script). */
  function shown() {
    document.body.dataset.shown = `${state.orgunit}|${state.period}|${state.view}|${data.answerKey.length}`;
  }

  function status(text, error) {
    const node = $("status");
    node.textContent = text;
    node.classList.toggle("error", Boolean(error));
  }
  function updatedNow() {
    status(t("updated", { t: new Intl.DateTimeFormat(locale(), { timeStyle: "medium" }).format(new Date()) }));
  }
  function failure(error) {
    if (error instanceof AuthError) {
      signIn(t("token_refused"));
      return;
    }
    if (error instanceof ApiError && error.status === 403) status(t("forbidden"), true);
    else if (error instanceof ApiError && error.status === 404) status(t("not_found", { e: error.message }), true);
    else status(t("failed", { e: error.message }), true);
  }

  /* ---------- loading ---------- */

  async function loadSeries(unit) {
    const end = lastMonth(state.period);
    const range = { indicator: state.indicator, from: monthsBack(end, state.months),
      to: monthsBack(end, 1), view: state.view };
    const parent = unit && unit.ancestors.length ? unit.ancestors[unit.ancestors.length - 1] : null;
    const [own, theirs] = await Promise.all([
      api("/v1/indicators/series", Object.assign({ orgunit: state.orgunit }, range)),
      parent && canRead(parent.code)
        ? api("/v1/indicators/series", Object.assign({ orgunit: parent.code }, range)).catch(() => null)
        : Promise.resolve(null),
    ]);
    data.series = own;
    data.parentSeries = theirs;
  }
  function hasChildren(unit) {
    return unit.children.some((c) => state.view === "facility" || c.level !== "facility");
  }
  async function loadChildren(unit) {
    data.children = hasChildren(unit)
      ? await api("/v1/indicators/children", { orgunit: state.orgunit, period: state.period, view: state.view, indicator: state.indicator })
      : null;
  }

  async function load() {
    const seq = ++loadSeq;
    status(t("loading"));
    // Undefined: asked, not answered yet (a drill-down into a province can take a while).
    data.children = undefined;
    data.series = undefined;
    data.parentSeries = null;
    try {
      const unit = await api(`/v1/orgunits/${encodeURIComponent(state.orgunit)}`, { period: state.period });
      if (seq !== loadSeq) return;
      data.unit = unit;
      // Errors are kept as values: a rejection nobody waits for yet would be logged as uncaught.
      const settle = (promise) => promise.then(() => null, (error) => error);
      const below = settle(loadChildren(unit));
      const trend = settle(loadSeries(unit));
      const answer = await api("/v1/indicators", { orgunit: state.orgunit, period: state.period, view: state.view });
      if (seq !== loadSeq) return;
      data.answer = answer;
      data.answerKey = JSON.stringify(answer);
      draw();
      // The units below and the trend are drawn as each arrives; a failure of one keeps the rest.
      const errors = await Promise.all([
        below.then((error) => {
          if (error) data.children = null;
          if (seq === loadSeq) drawChildren();
          return error;
        }),
        trend.then((error) => {
          if (error) data.series = null;
          if (seq === loadSeq) drawTrend();
          return error;
        }),
      ]);
      if (seq !== loadSeq) return;
      const failed = errors.find((error) => error);
      if (failed) failure(failed);
      else updatedNow();
      shown();
    } catch (error) {
      if (seq !== loadSeq) return;
      data.answer = null; data.children = null; data.series = null; data.parentSeries = null;
      draw();
      failure(error);
    }
  }

  /* Light polling: the unit's answer every few seconds; the units below and the trend again only
     when it changed. The page is redrawn in place: scroll, focus and sort stay. */
  async function poll() {
    if (polling || !token || !data.unit || $("main").hidden || document.hidden) return;
    polling = true;
    const seq = loadSeq;
    try {
      const answer = await api("/v1/indicators", { orgunit: state.orgunit, period: state.period, view: state.view });
      if (seq !== loadSeq) return;
      const key = JSON.stringify(answer);
      if (key !== data.answerKey) {
        await Promise.all([loadChildren(data.unit), loadSeries(data.unit)]);
        if (seq !== loadSeq) return;
        data.answer = answer;
        data.answerKey = key;
        draw();
        shown();
      }
      updatedNow();
    } catch (error) {
      if (seq === loadSeq) failure(error);
    } finally {
      polling = false;
    }
  }

  /* The next poll waits at least three times as long as the last one took: a slow answer (a
     whole province on a busy server) is not asked for again and again. */
  function schedulePolls() {
    const started = performance.now();
    poll().finally(() => {
      setTimeout(schedulePolls, Math.max(POLL_MS, 3 * (performance.now() - started)));
    });
  }

  async function loadTargets() {
    const targets = await api("/v1/targets");
    data.targets = new Map(targets.map((target) => [target.indicator, target]));
  }

  function navigate(changes, push) {
    Object.assign(state, changes);
    remember(push !== false);
    load();
  }

  /* ---------- signing in ---------- */

  function signIn(message) {
    $("signin").hidden = false;
    $("controls").hidden = true;
    $("main").hidden = true;
    $("breadcrumb").hidden = true;
    $("signout").hidden = true;
    translateStatic();
    const help = $("signin").querySelector("p");
    help.textContent = message ? `${message} ${t("signin_help")}` : t("signin_help");
    $("token-input").focus();
  }

  async function start() {
    $("signin").hidden = true;
    $("controls").hidden = false;
    $("main").hidden = false;
    $("signout").hidden = false;
    if (!state.orgunit) state.orgunit = tokenAreas()[0] || "VN";
    remember(false);
    draw();
    try {
      await loadTargets();
    } catch (error) {
      failure(error);
      return;
    }
    await load();
  }

  /* ---------- the org-unit search ---------- */

  function setupSearch() {
    const input = $("unit-search");
    const list = $("unit-results");
    let timer = null;
    let active = -1;
    let found = [];
    const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1; };
    const mark = () => {
      [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
      if (active >= 0) input.setAttribute("aria-activedescendant", list.children[active].id);
      else input.removeAttribute("aria-activedescendant");
    };
    const choose = (unit) => {
      close();
      input.value = "";
      // A facility is not a residence: its numbers are those of the care it gave.
      navigate(unit.level === "facility" ? { orgunit: unit.code, view: "facility" } : { orgunit: unit.code });
    };
    const show = (units) => {
      found = units;
      list.replaceChildren();
      if (!units.length) {
        list.append(el("li", { role: "option", "aria-disabled": "true", text: t("unit_none") }));
      }
      units.forEach((u, i) => {
        const li = el("li", { role: "option", id: `unit-option-${i}`, "data-code": u.code },
          u.name, " ", el("span", { class: "code", text: `${t(`level_${u.level}`)} · ${u.code}` }));
        li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(u); });
        list.append(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
      mark();
    };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const q = input.value.trim();
      if (!q) { close(); return; }
      timer = setTimeout(async () => {
        try {
          const units = await api("/v1/orgunits", { q, period: state.period });
          if (input.value.trim() === q) show(units);
        } catch (error) {
          failure(error);
        }
      }, 250);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && found.length) { active = Math.min(found.length - 1, active + 1); mark(); event.preventDefault(); }
      else if (event.key === "ArrowUp" && found.length) { active = Math.max(0, active - 1); mark(); event.preventDefault(); }
      else if (event.key === "Enter") {
        event.preventDefault();
        if (found.length && !list.hidden) choose(found[Math.max(active, 0)]);
      } else if (event.key === "Escape") close();
    });
    input.addEventListener("blur", () => setTimeout(close, 150));
  }

  /* ---------- wiring ---------- */

  function periodFromControls() {
    const kind = $("period-kind").value;
    const year = Number($("period-year").value);
    if (!(year >= 1900 && year <= 2999)) return null;
    const old = parsePeriod(state.period);
    let part = Number($("period-part").value) || 1;
    if (kind !== old.kind) {
      const end = lastMonth(state.period).month;
      part = { month: end, quarter: Math.ceil(end / 3), half: end > 6 ? 2 : 1 }[kind] || 0;
    }
    return periodCode({ kind, year, part });
  }

  function wire() {
    $("lang-switch").addEventListener("click", () => {
      state.lang = state.lang === "vi" ? "en" : "vi";
      remember(false);
      draw();
      updatedNow();
    });
    $("print").addEventListener("click", () => window.print());
    $("signout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      token = null;
      signIn();
    });
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const given = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
      if (!given) return;
      sessionStorage.setItem(TOKEN_KEY, given);
      token = given;
      $("token-input").value = "";
      start();
    });
    $("controls").addEventListener("submit", (event) => event.preventDefault());
    for (const id of ["period-kind", "period-part", "period-year"]) {
      $(id).addEventListener("change", () => {
        const code = periodFromControls();
        if (code && code !== state.period) navigate({ period: code });
      });
    }
    $("view").addEventListener("change", () => navigate({ view: $("view").value }));
    $("indicator").addEventListener("change", () => navigate({ indicator: $("indicator").value }));
    $("months").addEventListener("change", () => navigate({ months: Number($("months").value) }));
    document.addEventListener("click", (event) => {
      const link = event.target.closest("a[data-orgunit]");
      if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
        event.preventDefault();
        navigate({ orgunit: link.dataset.orgunit });
        $("main").focus({ preventScroll: false });
        return;
      }
      const pick = event.target.closest("button[data-pick]");
      if (pick) {
        navigate({ indicator: pick.dataset.pick });
        return;
      }
      const sort = event.target.closest("button.sort");
      if (sort) {
        state.sort = sort.dataset.sort === "name" ? "name" : "worst";
        drawChildren();
        return;
      }
      const listed = event.target.closest("#defaulters-link");
      if (listed && token && event.button === 0) {
        // Another service: the token travels in the fragment, which no server sees.
        event.preventDefault();
        window.open(`${listed.href}#${new URLSearchParams({ token })}`, "_blank", "noopener");
        return;
      }
      const exported = event.target.closest("a.export");
      if (exported && token && event.button === 0 && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        download(exported.href);
      }
    });
    window.addEventListener("popstate", () => { readUrl(); load(); });
  }

  /* An export wants the token too: fetched here and handed to the browser as a file. */
  async function download(href) {
    try {
      const response = await fetch(href, { headers: { authorization: `Bearer ${token}` } });
      if (response.status === 401) throw new AuthError();
      if (!response.ok) throw new ApiError(response.status, null);
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const named = /filename="?([^";]+)"?/.exec(disposition);
      const link = el("a", { href: URL.createObjectURL(blob), download: named ? named[1] : "export" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      failure(error);
    }
  }

  readUrl();
  takeTokenFromFragment();
  wire();
  setupSearch();
  translateStatic();
  setTimeout(schedulePolls, POLL_MS);
  if (token) start();
  else signIn();
})();
