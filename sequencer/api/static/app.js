// The clinician page: builds the request from the form, POSTs it to /v1/recommendations with the
// X-API-Key header, and renders the answer. Only the API key is kept (sessionStorage, this tab);
// patient data stays in memory and never goes into a URL. Server text is inserted with
// textContent only (never as HTML).
"use strict";

(function () {
  const KEY_STORAGE = "sequencer.apiKey";
  const ENDPOINT = "/v1/recommendations";
  const REGIMENS = "/v1/regimens";
  const VOCABULARY = "/v1/vocabulary";

  const $ = (id) => document.getElementById(id);
  const form = $("patient-form");
  const errorBox = $("form-errors");
  const statusEl = $("status");
  const submitButton = $("submit");
  let regimenNames = {};
  let usesWtp = new Set(); // objectives that take a willingness to pay (from the vocabulary)

  // --- small DOM helpers -------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function fmt(x, digits) {
    return typeof x === "number" && isFinite(x) ? x.toFixed(digits) : "n/a";
  }

  function pct(x) {
    return typeof x === "number" && isFinite(x) ? (100 * x).toFixed(0) + "%" : "n/a";
  }

  function interval(est, digits, asPercent) {
    if (!est || typeof est !== "object") return "n/a";
    const f = asPercent ? pct : (x) => fmt(x, digits);
    return f(est.estimate) + " (" + f(est.lower) + "\u2013" + f(est.upper) + ")";
  }

  function regimenLabel(id, name) {
    const label = name || regimenNames[id];
    return label ? label + " [" + id + "]" : id;
  }

  // --- the API key: sessionStorage only ------------------------------------------------------
  function apiKey() {
    return $("api_key").value.trim();
  }

  function restoreKey() {
    try {
      const saved = sessionStorage.getItem(KEY_STORAGE);
      if (saved) $("api_key").value = saved;
    } catch (e) { /* storage disabled: the key is typed each time */ }
  }

  function saveKey() {
    try {
      if (apiKey()) sessionStorage.setItem(KEY_STORAGE, apiKey());
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage disabled */ }
  }

  // --- the form's choices, from GET /v1/vocabulary (no key needed) --------------------------
  function fillSelect(select, terms) {
    const placeholder = select.dataset.placeholder;
    const options = [];
    if (placeholder !== undefined) options.push(el("option", {value: ""}, placeholder));
    for (const t of terms) {
      const option = el("option", {value: String(t.id)}, t.label);
      if (select.dataset.selected === String(t.id)) option.selected = true;
      options.push(option);
    }
    select.replaceChildren(...options);
  }

  function alterationRow(term, sources) {
    const id = "alt-" + term.id;
    const source = el("select", {id: id + "-source"});
    source.dataset.sourceFor = term.id;
    for (const s of sources) source.append(el("option", {value: s.id}, s.label));
    const box = el("input", {id: id, type: "checkbox"});
    box.dataset.alteration = term.id;
    return el("tr", {},
      el("td", {class: "checkbox"}, box, " ", el("label", {for: id}, term.label)),
      el("td", {},
        el("label", {for: id + "-source", class: "visually-hidden"},
           "Source of the " + term.label + " result"),
        source));
  }

  function contraindicationBox(term) {
    const id = "ci-" + term.id;
    const box = el("input", {id: id, type: "checkbox"});
    box.dataset.contraindication = term.id;
    return el("div", {class: "checkbox"}, box, " ", el("label", {for: id}, term.label));
  }

  async function loadVocabulary() {
    let terms;
    try {
      const response = await fetch(VOCABULARY, {cache: "no-store"});
      if (!response.ok) throw new Error("HTTP " + response.status);
      terms = await response.json();
    } catch (e) {
      showBox("Could not load the form's choices from the service (" + e.message + "); " +
              "reload the page when the service is ready.");
      return;
    }
    for (const select of form.querySelectorAll("select[data-vocabulary]")) {
      fillSelect(select, terms[select.dataset.vocabulary] || []);
    }
    $("alterations-rows").replaceChildren(
      ...terms.mechanisms.map((m) => alterationRow(m, terms.alteration_sources)));
    $("contraindication-boxes").replaceChildren(...terms.contraindications.map(contraindicationBox));
    usesWtp = new Set(terms.objectives.filter((o) => o.uses_willingness_to_pay).map((o) => o.id));
    form.dataset.ready = "true";
    syncLine();
    syncObjective();
    syncIsh();
  }

  // --- prior-regimen picker, from GET /v1/regimens ------------------------------------------
  async function loadRegimens() {
    const select = $("prior_regimens");
    const hint = $("prior_regimens-hint");
    if (!apiKey()) return;
    let response;
    try {
      response = await fetch(REGIMENS, {headers: {"X-API-Key": apiKey()}, cache: "no-store"});
    } catch (e) {
      hint.textContent = "Could not reach the service to load the regimens.";
      return;
    }
    if (response.status === 401) {
      hint.textContent = "The API key is missing or not recognised, so the regimens cannot be " +
        "loaded.";
      return;
    }
    if (!response.ok) {
      hint.textContent = "Could not load the regimens (HTTP " + response.status + ").";
      return;
    }
    const regimens = await response.json();
    const chosen = new Set(Array.from(select.selectedOptions, (o) => o.value));
    select.replaceChildren();
    regimenNames = {};
    for (const r of regimens) {
      regimenNames[r.id] = r.name;
      const lines = r.lines.length > 1
        ? "lines " + Math.min(...r.lines) + "\u2013" + Math.max(...r.lines)
        : "line " + r.lines[0];
      const option = el("option", {value: r.id}, r.name + " (" + lines + ")");
      option.dataset.firstLine = String(Math.min(...r.lines));
      option.selected = chosen.has(r.id);
      select.append(option);
    }
    hint.textContent = "Hold Ctrl (Cmd on a Mac) to choose several; one per earlier line. " +
      "Only regimens given before the current line can be chosen.";
    syncLine();
  }

  // Prior regimens must start before the current line; none at line 1.
  function syncLine() {
    const line = Number($("current_line").value);
    const select = $("prior_regimens");
    for (const option of select.options) {
      const possible = Number(option.dataset.firstLine) < line;
      option.disabled = !possible;
      if (!possible) option.selected = false;
    }
    select.disabled = line <= 1;
  }

  function syncObjective() {
    $("willingness_to_pay").disabled = !usesWtp.has($("objective_kind").value);
  }

  function syncIsh() {
    const needed = $("her2_ihc").value === "2+";
    $("her2_ish").setAttribute("aria-required", needed ? "true" : "false");
    $("her2_ish-hint").textContent = needed ? "Required: IHC is 2+." : "Required when IHC is 2+.";
  }

  // --- request body ---------------------------------------------------------------------------
  function numberOrRaw(value) {
    const text = value.trim();
    if (text === "") return null;
    const n = Number(text);
    return isFinite(n) ? n : text; // a non-number goes as is, and the service names the field
  }

  function integerOrNull(value) {
    return value === "" ? null : Number(value);
  }

  function buildRequest() {
    const body = {
      her2_ihc: $("her2_ihc").value || null,
      pdl1_cps: numberOrRaw($("pdl1_cps").value),
      msi_high: $("msi_high").checked,
      known_alterations: [],
      current_line: integerOrNull($("current_line").value),
      prior_regimens: Array.from($("prior_regimens").selectedOptions, (o) => o.value),
      contraindications: [],
      ecog: integerOrNull($("ecog").value),
      objective: {kind: $("objective_kind").value},
      options: {include_investigational: $("include_investigational").checked},
    };
    if ($("her2_ish").value) body.her2_ish = $("her2_ish").value;
    for (const box of form.querySelectorAll("input[data-alteration]")) {
      if (!box.checked) continue;
      const name = box.dataset.alteration;
      const source = form.querySelector('select[data-source-for="' + name + '"]').value;
      body.known_alterations.push({name: name, source: source});
    }
    for (const box of form.querySelectorAll("input[data-contraindication]")) {
      if (box.checked) body.contraindications.push(box.dataset.contraindication);
    }
    if (usesWtp.has(body.objective.kind)) {
      body.objective.willingness_to_pay = numberOrRaw($("willingness_to_pay").value);
    }
    return body;
  }

  // --- errors ---------------------------------------------------------------------------------
  function clearErrors() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
    for (const p of form.querySelectorAll("[data-error-for]")) p.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
    }
  }

  function showBox(title, items) {
    errorBox.replaceChildren(el("p", {class: "error-title"}, title));
    if (items && items.length) {
      const list = el("ul");
      for (const item of items) list.append(el("li", {}, item));
      errorBox.append(list);
    }
    errorBox.hidden = false;
    errorBox.focus();
  }

  // The error slot for a 422 `loc`: the longest matching dotted prefix after "body"
  // ("objective.willingness_to_pay", then "objective"); a model-level error ("body" alone)
  // whose message starts with a field name ("her2_ish: ...") goes next to that field.
  function errorSlot(loc, msg) {
    const parts = (Array.isArray(loc) ? loc : [loc]).filter((p) => p !== "body").map(String);
    if (parts.length === 0) {
      const m = /^(?:Value error, )?([a-z0-9_]+):/.exec(msg || "");
      if (m) parts.push(m[1]);
    }
    for (let n = parts.length; n > 0; n--) {
      const key = parts.slice(0, n).join(".");
      const slot = form.querySelector('[data-error-for="' + key + '"]');
      if (slot) return slot;
    }
    return null;
  }

  function showValidationErrors(detail) {
    const errors = Array.isArray(detail) ? detail : [{loc: ["body"], msg: String(detail)}];
    const items = [];
    for (const error of errors) {
      const loc = Array.isArray(error.loc) ? error.loc : [error.loc];
      const msg = error.msg || "invalid";
      items.push(loc.join(" \u203a ") + ": " + msg);
      const slot = errorSlot(loc, msg);
      if (slot) {
        slot.textContent = slot.textContent ? slot.textContent + " " + msg : msg;
        const input = form.querySelector('[aria-describedby~="' + slot.id + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
      }
    }
    showBox("Please correct " + (errors.length === 1 ? "this field" : "these fields") + ":",
      items);
  }

  function showUnauthorized() {
    $("api_key-error").textContent = "The API key is missing or wrong.";
    $("api_key").setAttribute("aria-invalid", "true");
    showBox("401: the API key is missing or wrong. Enter a valid key (it is sent as the " +
      "X-API-Key header).");
  }

  // --- results --------------------------------------------------------------------------------
  function renderRecommended(data) {
    const id = data.recommended;
    const alt = (data.alternatives || []).find((a) => a.regimen === id);
    const name = (alt && alt.name) || regimenNames[id] || "";
    const box = $("recommended");
    box.replaceChildren(
      el("p", {class: "recommended-label"}, "Recommended for line " +
        (data.plan && data.plan.line ? data.plan.line : "") + ":"),
      el("p", {class: "recommended-name"}, name || id),
      el("p", {}, el("code", {class: "regimen-id"}, id)),
    );
    if (alt) {
      box.append(el("p", {class: "recommended-estimates"},
        "Life-years " + interval(alt.life_years, 2) + "; QALYs " + interval(alt.qalys, 2) +
        "; grade \u22653 AE " + interval(alt.probability_grade3_ae, 0, true) +
        "; evidence: " + (alt.evidence_level || "n/a")));
    }
  }

  function renderAlternatives(data) {
    const tbody = $("alternatives").tBodies[0];
    tbody.replaceChildren();
    for (const a of data.alternatives || []) {
      const row = el("tr", a.regimen === data.recommended ? {class: "is-recommended"} : {},
        el("th", {scope: "row"}, el("span", {class: "regimen-name"}, a.name || a.regimen),
          el("br"), el("code", {}, a.regimen),
          a.regimen === data.recommended ? el("span", {class: "badge"}, "recommended") : null),
        el("td", {}, interval(a.life_years, 2)),
        el("td", {}, interval(a.qalys, 2)),
        el("td", {}, interval(a.median_months_on_line, 1)),
        el("td", {}, interval(a.probability_grade3_ae, 0, true)),
        el("td", {}, a.evidence_level || "n/a"),
        el("td", {class: "small"}, a.evidence || ""));
      tbody.append(row);
    }
  }

  function planNode(node, probability) {
    const head = el("div", {class: "plan-node"});
    if (probability !== undefined) {
      head.append(el("span", {class: "plan-prob"}, pct(probability)), " \u2192 ");
    }
    head.append(el("span", {class: "plan-line"}, "Line " + node.line + ": "),
      el("strong", {}, regimenNames[node.regimen] || node.regimen), " ",
      el("code", {}, node.regimen));
    const details = [];
    if (typeof node.probability_death_on_line === "number") {
      details.push("death on this line " + pct(node.probability_death_on_line));
    }
    if (typeof node.probability_supportive_care_after === "number") {
      details.push("supportive care after " + pct(node.probability_supportive_care_after));
    }
    const item = el("li", {}, head);
    if (node.state) item.append(el("div", {class: "plan-state small"}, node.state));
    if (details.length) item.append(el("div", {class: "plan-detail small"}, details.join("; ")));
    if (node.then && node.then.length) {
      const children = el("ul");
      for (const child of node.then) children.append(planNode(child, child.probability));
      item.append(children);
    }
    return item;
  }

  function renderPlan(data) {
    const box = $("plan");
    box.replaceChildren();
    if (data.plan) box.append(el("ul", {class: "plan-tree"}, planNode(data.plan)));
    else box.append(el("p", {}, "No plan."));
  }

  function renderEvidence(data) {
    const list = $("evidence");
    list.replaceChildren();
    for (const t of data.evidence || []) {
      const item = el("li", {},
        el("strong", {}, t.trial), " (phase " + t.phase + ", line " + t.line + "; " +
          (t.regimens || []).join(", ") + "). ",
        t.citation || "");
      if (t.doi) {
        item.append(" DOI: ", el("a", {href: "https://doi.org/" + encodeURI(t.doi),
          rel: "noopener noreferrer", target: "_blank"}, t.doi));
      }
      list.append(item);
    }
  }

  function renderModel(data) {
    const dl = $("model");
    dl.replaceChildren();
    for (const [k, v] of Object.entries(data.model || {})) {
      dl.append(el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, el("code", {}, String(v))));
    }
  }

  function renderCaveats(data) {
    const list = $("caveats");
    list.replaceChildren();
    const caveats = data.caveats && data.caveats.length ? data.caveats
      : ["Decision support, not a prescription."];
    for (const c of caveats) list.append(el("li", {}, c));
  }

  function render(data) {
    $("patient-state").textContent = "Patient state: " + (data.patient_state || "") +
      (data.her2_status ? " (HER2 " + data.her2_status + ")" : "");
    renderRecommended(data);
    renderAlternatives(data);
    renderPlan(data);
    renderEvidence(data);
    renderModel(data);
    renderCaveats(data);
    $("results").hidden = false;
  }

  // --- submit ---------------------------------------------------------------------------------
  async function submit(event) {
    event.preventDefault();
    clearErrors();
    saveKey();
    if (!apiKey()) {
      showUnauthorized();
      return;
    }
    $("results").hidden = true;
    submitButton.disabled = true;
    statusEl.textContent = "Computing the recommendation\u2026";
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-API-Key": apiKey()},
        body: JSON.stringify(buildRequest()),
        cache: "no-store",
      });
    } catch (e) {
      showBox("Could not reach the service: " + e.message);
      statusEl.textContent = "";
      submitButton.disabled = false;
      return;
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    submitButton.disabled = false;
    statusEl.textContent = "";
    if (response.ok && data) {
      if ($("prior_regimens").options.length === 0) await loadRegimens(); // names for the plan
      for (const a of data.alternatives || []) regimenNames[a.regimen] = a.name || a.regimen;
      render(data);
      statusEl.textContent = "Recommendation ready.";
      $("results-title").scrollIntoView({block: "start"});
    } else if (response.status === 401) {
      showUnauthorized();
    } else if (response.status === 422 && data) {
      showValidationErrors(data.detail);
    } else {
      const detail = data && data.detail ? ": " + JSON.stringify(data.detail) : "";
      showBox("The service answered HTTP " + response.status + detail);
    }
  }

  // --- wiring ---------------------------------------------------------------------------------
  function init() {
    restoreKey();
    form.addEventListener("submit", submit);
    $("api_key").addEventListener("change", () => { saveKey(); loadRegimens(); });
    $("forget-key").addEventListener("click", () => {
      $("api_key").value = "";
      saveKey();
      $("api_key").focus();
    });
    $("current_line").addEventListener("change", syncLine);
    $("objective_kind").addEventListener("change", syncObjective);
    $("her2_ihc").addEventListener("change", syncIsh);
    loadVocabulary().then(loadRegimens);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
