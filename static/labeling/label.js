// The rater's labeling page: keyboard first, next task preloaded, drafts kept until the server confirms.
// Untrusted text only reaches the DOM as textContent, or as HTML the server sanitized with nh3.
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("label-config").textContent);
  const $ = (id) => document.getElementById(id);
  const STRENGTH_KEYS = "asdfghjkl";
  const DRAFT_PREFIX = "oversight-draft-";
  const OUTBOX_KEY = "oversight-outbox-" + cfg.project.id;

  let current = null; // {task, answer, shownAt}
  let preloaded = null; // a task payload or null
  let preloading = null; // a promise while a preload is in flight
  let sending = false;
  let assistHidden = false; // the rater can fold all AI assistance away (key h)

  // ---------- server calls ----------
  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "HTTP " + status);
      this.status = status;
      this.body = body;
    }
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cfg.csrfToken, Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) throw new HttpError(response.status, data);
    return data;
  }

  const fetchNext = (holding) => post(cfg.urls.next, { holding: holding });

  // ---------- drafts and outbox (survive reloads and network failures) ----------
  function saveDraft() {
    if (!current) return;
    try {
      localStorage.setItem(DRAFT_PREFIX + current.task.assignment, JSON.stringify(current.answer));
    } catch (e) {
      /* storage full or disabled: the answer still lives in memory */
    }
  }
  function loadDraft(assignmentId) {
    try {
      return JSON.parse(localStorage.getItem(DRAFT_PREFIX + assignmentId) || "null");
    } catch (e) {
      return null;
    }
  }
  function dropDraft(assignmentId) {
    localStorage.removeItem(DRAFT_PREFIX + assignmentId);
  }
  function outbox() {
    try {
      return JSON.parse(localStorage.getItem(OUTBOX_KEY) || "[]");
    } catch (e) {
      return [];
    }
  }
  function setOutbox(entries) {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify(entries));
  }

  // ---------- banner ----------
  function banner(message, kind) {
    const el = $("banner");
    if (!message) {
      el.hidden = true;
      el.textContent = "";
      return;
    }
    el.hidden = false;
    el.className = "banner " + (kind || "error");
    el.textContent = message;
  }

  // ---------- rendering ----------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else if (key === "html") node.innerHTML = value; // server-sanitized (nh3) HTML only
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function emptyAnswer(task) {
    return {
      choice: null, ranks: {}, strength: null, allBad: false, flags: {}, assistRatings: {}, // comparison
      flaws: [], noFlaws: false, quality: null, critiqueRatings: {}, span: null, // critique
      labels: [], finish: null, // steps
      rationale: "",
    };
  }

  function show(task) {
    banner(null);
    if (!task) {
      current = null;
      $("task").replaceChildren();
      $("empty").hidden = false;
      return;
    }
    $("empty").hidden = true;
    current = { task: task, answer: loadDraft(task.assignment) || emptyAnswer(task), shownAt: performance.now() };
    render();
    window.scrollTo(0, 0);
  }

  function render() {
    const task = current.task;
    const answer = current.answer;
    const root = $("task");
    const parts = [];

    // Prompt: chat turns or a single text.
    const prompt = el("section", { class: "prompt card", "aria-label": "Prompt" });
    if (Array.isArray(task.item.prompt)) {
      task.item.prompt.forEach((turn) => {
        prompt.appendChild(
          el("div", { class: "turn turn-" + turn.role }, [el("div", { class: "role", text: turn.role }), el("div", { class: "md", html: turn.html })])
        );
      });
    } else {
      prompt.appendChild(el("div", { class: "md", html: task.item.prompt_html }));
    }
    parts.push(prompt);
    const summaries = task.assists.filter((a) => a.target === "context");
    summaries.forEach((assist) => parts.push(assistPanel(assist, "assist-summary card")));
    if (task.item.context) {
      parts.push(el("details", { class: "context card" }, [el("summary", { text: "Context document" }), el("div", { class: "md", html: task.item.context_html })]));
    }

    let controls;
    if (task.item.kind === "critique") {
      controls = renderCritique(parts);
    } else if (task.item.kind === "steps") {
      controls = renderSteps(parts);
    } else {
      controls = renderComparison(parts);
    }
    const rationale = el("textarea", {
      id: "rationale",
      rows: 3,
      placeholder: cfg.project.rationale_required ? "Why? (required)" : "Why? (optional) — press r to type, Ctrl+Enter to submit",
      oninput: (e) => {
        current.answer.rationale = e.target.value;
        saveDraft();
      },
    });
    rationale.value = answer.rationale;
    controls.appendChild(el("label", {}, [document.createTextNode("Rationale"), rationale]));
    controls.appendChild(
      el("div", { class: "row" }, [
        el("button", { type: "button", class: "primary", id: "submit", onclick: submit, disabled: sending }, [document.createTextNode("Submit "), el("kbd", { text: "Enter" })]),
        el("span", { id: "validation", class: "validation", role: "status" }),
      ])
    );
    parts.push(controls);
    root.replaceChildren(...parts);
  }

  // AI-written assistance: always labelled as such, collapsible, with a helpfulness rating (1-7).
  function assistPanel(assist, className) {
    const ratings = current.answer.assistRatings || {};
    const rate = el("div", { class: "assist-rate" }, [el("span", { class: "muted", text: "Helpful? " })]);
    for (let value = 1; value <= 7; value++) {
      rate.appendChild(
        el("button", {
          type: "button",
          class: "rate" + (ratings[assist.id] === value ? " selected" : ""),
          text: String(value),
          title: value === 1 ? "not helpful" : value === 7 ? "very helpful" : "helpfulness " + value,
          onclick: () => {
            const next = Object.assign({}, current.answer.assistRatings);
            if (next[assist.id] === value) delete next[assist.id];
            else next[assist.id] = value;
            update({ assistRatings: next });
          },
        })
      );
    }
    return el("details", { class: "assist " + className, open: !assistHidden, "data-assist": String(assist.id) }, [
      el("summary", {}, [el("span", { class: "ai-badge", text: "AI" }), document.createTextNode(" " + assist.label + " · " + assist.model)]),
      el("div", { class: "md", html: assist.html }),
      rate,
    ]);
  }

  function renderComparison(parts) {
    const task = current.task;
    const answer = current.answer;
    const pairwise = task.responses.length === 2;
    // Responses.
    const grid = el("section", { class: "responses " + (pairwise ? "pair" : "grid"), "aria-label": "Responses" });
    task.responses.forEach((response, index) => {
      const number = index + 1;
      const chosen = pairwise ? answer.choice === number || answer.choice === 0 : answer.ranks[response.id] !== undefined;
      const card = el("article", { class: "response card" + (chosen && answer.choice !== 0 ? " chosen" : "") + (answer.choice === 0 ? " tied" : ""), "data-response": response.id }, [
        el("header", {}, [
          el("span", { class: "badge", text: String(number) }),
          el("span", { text: "Response " + number }),
          pairwise ? null : rankControls(response, task.responses.length),
        ]),
        el("div", { class: "md", html: response.html }),
        ...task.assists.filter((a) => a.response === response.id).map((assist) => assistPanel(assist, "assist-critique")),
        flagControls(response),
      ]);
      grid.appendChild(card);
    });
    parts.push(grid);

    // Judgement controls.
    const controls = el("section", { class: "controls card", "aria-label": "Your judgement" });
    if (pairwise) {
      controls.appendChild(
        el("div", { class: "row choice" }, [
          choiceButton(1, "Response 1 is better", "1"),
          choiceButton(0, "Tie", "0"),
          choiceButton(2, "Response 2 is better", "2"),
        ])
      );
    } else {
      controls.appendChild(el("p", { class: "muted", text: "Rank: press a response's number to give it the next rank (Shift+number: tie with the previous rank), or click the rank buttons. Backspace clears." }));
    }
    if (cfg.project.strength_labels.length) {
      const row = el("div", { class: "row strength", role: "radiogroup", "aria-label": "Preference strength" }, [el("span", { class: "label", text: "Strength:" })]);
      cfg.project.strength_labels.forEach((label, i) => {
        const value = i + 1;
        row.appendChild(
          el("button", {
            type: "button",
            class: "strength-option" + (answer.strength === value ? " selected" : ""),
            "aria-pressed": answer.strength === value ? "true" : "false",
            onclick: () => setStrength(value),
          }, [el("kbd", { text: STRENGTH_KEYS[i] }), document.createTextNode(" " + label)])
        );
      });
      controls.appendChild(row);
    }
    controls.appendChild(
      el("label", { class: "inline" }, [
        el("input", { type: "checkbox", id: "all-bad", checked: answer.allBad, onchange: (e) => update({ allBad: e.target.checked }) }),
        document.createTextNode(" All responses are bad "),
        el("kbd", { text: "b" }),
      ])
    );
    return controls;
  }

  // ---------- critique tasks: write flaws (with quoted spans), rate the AI critiques, score quality ----------
  const SEVERITIES = ["minor", "major", "critical"];

  function renderCritique(parts) {
    const task = current.task;
    const answer = current.answer;
    const response = task.responses[0];
    // Plain text, so a selection's offsets are offsets into the response exactly as stored.
    const text = el("div", { class: "plain", id: "critique-text", text: response.text });
    text.addEventListener("mouseup", captureSpan);
    text.addEventListener("keyup", captureSpan);
    const critiques = task.assists.filter((a) => a.kind === "critique");
    parts.push(
      el("section", { class: "response card", "aria-label": "Response" }, [
        el("header", {}, [el("span", { text: "Response — select text to quote it in a flaw" })]),
        text,
        ...critiques.map((assist) => critiqueRatingPanel(assist)),
      ])
    );
    const controls = el("section", { class: "controls card", "aria-label": "Your critique" });
    const list = el("ol", { class: "flaws" });
    answer.flaws.forEach((flaw, index) => {
      list.appendChild(
        el("li", { class: "flaw flaw-" + flaw.severity }, [
          el("span", { class: "severity", text: flaw.severity }),
          el("span", { text: " " + flaw.description }),
          flaw.quote ? el("q", { text: flaw.quote }) : null,
          el("button", { type: "button", class: "link-button", text: "remove", onclick: () => update({ flaws: answer.flaws.filter((_, i) => i !== index) }) }),
        ])
      );
    });
    controls.appendChild(el("div", {}, [el("strong", { text: "Flaws (" + answer.flaws.length + ")" }), list]));
    const description = el("input", { type: "text", id: "flaw-description", placeholder: "Describe a flaw (f), Enter to add" });
    description.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.ctrlKey) {
        event.preventDefault();
        event.stopPropagation();
        addFlaw();
      }
    });
    const severity = el("select", { id: "flaw-severity" }, SEVERITIES.map((name) => el("option", { value: name, text: name })));
    severity.value = "major";
    const span = answer.span;
    controls.appendChild(
      el("div", { class: "row new-flaw" }, [
        description,
        severity,
        el("span", { class: "muted", id: "flaw-quote", text: span ? "quote: “" + span.quote + "”" : "no quote selected" }),
        el("button", { type: "button", id: "add-flaw", onclick: addFlaw, text: "Add flaw" }),
      ])
    );
    controls.appendChild(
      el("label", { class: "inline" }, [
        el("input", { type: "checkbox", id: "no-flaws", checked: answer.noFlaws, onchange: (e) => update({ noFlaws: e.target.checked }) }),
        document.createTextNode(" No flaws found "),
        el("kbd", { text: "n" }),
      ])
    );
    const quality = el("div", { class: "row quality", role: "radiogroup", "aria-label": "Overall quality" }, [el("span", { class: "label", text: "Overall quality (1-7):" })]);
    for (let value = 1; value <= 7; value++) {
      quality.appendChild(el("button", { type: "button", class: "quality-option" + (answer.quality === value ? " selected" : ""), text: String(value), onclick: () => update({ quality: value }) }));
    }
    controls.appendChild(quality);
    return controls;
  }

  function captureSpan() {
    const selection = window.getSelection();
    const container = $("critique-text");
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed || !container) return;
    const range = selection.getRangeAt(0);
    const node = container.firstChild;
    if (!node || range.startContainer !== node || range.endContainer !== node) return;
    const start = Math.min(range.startOffset, range.endOffset);
    const end = Math.max(range.startOffset, range.endOffset);
    current.answer.span = { start: start, end: end, quote: node.textContent.slice(start, end) };
    saveDraft();
    $("flaw-quote").textContent = "quote: “" + current.answer.span.quote + "”";
  }

  function addFlaw() {
    const description = $("flaw-description").value.trim();
    if (!description) {
      $("flaw-description").focus();
      return;
    }
    const flaw = { description: description, severity: $("flaw-severity").value };
    if (current.answer.span) Object.assign(flaw, current.answer.span);
    update({ flaws: current.answer.flaws.concat([flaw]), span: null, noFlaws: false });
    $("flaw-description").focus();
  }

  function critiqueRatingPanel(assist) {
    const rating = current.answer.critiqueRatings[assist.id] || {};
    const setRating = (changes) => {
      const next = Object.assign({}, current.answer.critiqueRatings);
      next[assist.id] = Object.assign({}, rating, changes);
      update({ critiqueRatings: next });
    };
    const helpfulness = el("span", { class: "assist-rate" }, [el("span", { class: "muted", text: "Helpful? " })]);
    for (let value = 1; value <= 7; value++) {
      helpfulness.appendChild(el("button", { type: "button", class: "rate" + (rating.helpfulness === value ? " selected" : ""), text: String(value), onclick: () => setRating({ helpfulness: value }) }));
    }
    return el("details", { class: "assist assist-critique", open: !assistHidden, "data-assist": String(assist.id) }, [
      el("summary", {}, [el("span", { class: "ai-badge", text: "AI" }), document.createTextNode(" " + assist.label + " · " + assist.model)]),
      el("div", { class: "md", html: assist.html }),
      el("div", { class: "row" }, [
        el("span", { class: "muted", text: "Valid? " }),
        el("button", { type: "button", class: "rate" + (rating.valid === true ? " selected" : ""), text: "yes", onclick: () => setRating({ valid: true }) }),
        el("button", { type: "button", class: "rate" + (rating.valid === false ? " selected" : ""), text: "no", onclick: () => setRating({ valid: false }) }),
        helpfulness,
      ]),
    ]);
  }

  function critiquePayload() {
    const answer = current.answer;
    if (!answer.noFlaws && !answer.flaws.length) return { error: "Add at least one flaw, or tick “No flaws found” (n)." };
    if (!answer.quality) return { error: "Give the response an overall quality from 1 to 7." };
    const shown = current.task.assists.filter((a) => a.kind === "critique");
    const unrated = shown.filter((a) => {
      const r = answer.critiqueRatings[a.id];
      return !r || typeof r.valid !== "boolean" || !r.helpfulness;
    });
    if (unrated.length) return { error: "Say whether each AI critique is valid and how helpful it was." };
    return {
      body: {
        quality: answer.quality,
        flaws: answer.noFlaws ? [] : answer.flaws,
        no_flaws: answer.noFlaws,
        critique_ratings: answer.critiqueRatings,
        rationale: answer.rationale,
        time_spent_ms: Math.round(performance.now() - current.shownAt),
      },
    };
  }

  // ---------- step tasks: label each step -1 / 0 / +1 (PRM800K) ----------
  const FINISH = [
    ["found_error", "Found an error", "e"],
    ["solution", "Reached the solution", "s"],
    ["bad_problem", "Bad problem", "p"],
    ["give_up", "Give up", "g"],
  ];
  const LABEL_NAMES = { 1: "good", 0: "neutral", "-1": "bad" };

  function stepsStopped() {
    return cfg.project.stop_at_first_error && current.answer.labels.includes(-1);
  }

  function renderSteps(parts) {
    const task = current.task;
    const answer = current.answer;
    const steps = task.responses[0].steps || [];
    const list = el("ol", { class: "steps card", "aria-label": "Solution steps" });
    const stopped = stepsStopped();
    steps.forEach((step, index) => {
      const label = answer.labels[index];
      const isCurrent = index === answer.labels.length && !stopped;
      const locked = stopped && index >= answer.labels.length;
      const buttons = [1, 0, -1].map((value) =>
        el("button", {
          type: "button",
          class: "step-label label-" + LABEL_NAMES[value] + (label === value ? " selected" : ""),
          text: value === 1 ? "+1" : String(value),
          disabled: locked || index > answer.labels.length,
          onclick: () => setStepLabel(index, value),
        })
      );
      list.appendChild(
        el("li", { class: "step" + (isCurrent ? " current" : "") + (locked ? " locked" : "") + (label !== undefined ? " labelled-" + LABEL_NAMES[label] : ""), "data-step": String(index) }, [
          el("div", { class: "step-text", text: step }),
          el("div", { class: "step-buttons" }, buttons),
        ])
      );
    });
    parts.push(list);
    const controls = el("section", { class: "controls card", "aria-label": "Finish" });
    controls.appendChild(el("p", { class: "muted", text: "Label the highlighted step: + good, 0 neutral, - bad. Backspace undoes." + (cfg.project.stop_at_first_error ? " Labelling stops at the first bad step." : "") }));
    controls.appendChild(
      el("div", { class: "row finish", role: "radiogroup", "aria-label": "Finish reason" },
        FINISH.map(([value, label, key]) =>
          el("button", { type: "button", class: "finish-option" + (answer.finish === value ? " selected" : ""), "data-finish": value, onclick: () => update({ finish: value }) }, [el("kbd", { text: key }), document.createTextNode(" " + label)])
        )
      )
    );
    return controls;
  }

  function setStepLabel(index, value) {
    const labels = current.answer.labels.slice(0, index);
    labels[index] = value;
    const steps = current.task.responses[0].steps || [];
    let finish = current.answer.finish;
    if (value === -1 && cfg.project.stop_at_first_error) finish = "found_error";
    else if (labels.length === steps.length && !labels.includes(-1)) finish = finish || "solution";
    update({ labels: labels, finish: finish });
  }

  function stepsPayload() {
    const answer = current.answer;
    if (!answer.finish) return { error: "Choose how you finished (e/s/p/g)." };
    return {
      body: {
        step_labels: answer.labels,
        finish_reason: answer.finish,
        rationale: answer.rationale,
        time_spent_ms: Math.round(performance.now() - current.shownAt),
      },
    };
  }

  function taskKeys(event) {
    const kind = current.task.item.kind;
    const key = event.key;
    if (kind === "critique") {
      if (/^[1-7]$/.test(key)) update({ quality: Number(key) });
      else if (key === "n") update({ noFlaws: !current.answer.noFlaws });
      else if (key === "f") {
        event.preventDefault();
        $("flaw-description").focus();
      } else return false;
      return true;
    }
    if (kind === "steps") {
      const index = current.answer.labels.length;
      const steps = current.task.responses[0].steps || [];
      const value = { "+": 1, "=": 1, "0": 0, "-": -1 }[key];
      const finish = FINISH.find((f) => f[2] === key);
      if (value !== undefined) {
        if (index < steps.length && !stepsStopped()) setStepLabel(index, value);
      } else if (key === "Backspace") {
        event.preventDefault();
        update({ labels: current.answer.labels.slice(0, -1), finish: null });
      } else if (finish) update({ finish: finish[0] });
      else return false;
      return true;
    }
    return false;
  }

  function choiceButton(value, label, key) {
    const selected = current.answer.choice === value;
    return el("button", { type: "button", class: "choice-option" + (selected ? " selected" : ""), "aria-pressed": selected ? "true" : "false", "data-choice": String(value), onclick: () => update({ choice: value }) }, [
      el("kbd", { text: key }),
      document.createTextNode(" " + label),
    ]);
  }

  function rankControls(response, count) {
    const wrap = el("span", { class: "ranks", "aria-label": "Rank" });
    for (let rank = 1; rank <= count; rank++) {
      const selected = current.answer.ranks[response.id] === rank;
      wrap.appendChild(
        el("button", {
          type: "button",
          class: "rank" + (selected ? " selected" : ""),
          text: String(rank),
          title: "Rank " + rank,
          onclick: () => {
            const ranks = Object.assign({}, current.answer.ranks);
            if (ranks[response.id] === rank) delete ranks[response.id];
            else ranks[response.id] = rank;
            update({ ranks: ranks });
          },
        })
      );
    }
    return wrap;
  }

  function flagControls(response) {
    if (!cfg.project.flags.length) return null;
    const chosen = current.answer.flags[response.id] || [];
    const wrap = el("div", { class: "flags" });
    cfg.project.flags.forEach((flag) => {
      const box = el("input", {
        type: "checkbox",
        checked: chosen.includes(flag),
        onchange: (e) => {
          const flags = Object.assign({}, current.answer.flags);
          const set = new Set(flags[response.id] || []);
          if (e.target.checked) set.add(flag);
          else set.delete(flag);
          flags[response.id] = Array.from(set);
          current.answer.flags = flags;
          saveDraft();
        },
      });
      wrap.appendChild(el("label", { class: "flag" }, [box, document.createTextNode(" " + flag)]));
    });
    return wrap;
  }

  function update(changes) {
    Object.assign(current.answer, changes);
    if (changes.choice === 0) current.answer.strength = null;
    saveDraft();
    const focused = document.activeElement && document.activeElement.id;
    render();
    if (focused === "rationale") $("rationale").focus();
  }

  function setStrength(value) {
    if (current.answer.choice === 0) return;
    update({ strength: current.answer.strength === value ? null : value });
  }

  // ---------- building and sending the answer ----------
  function ranking() {
    const ids = current.task.responses.map((r) => r.id);
    const answer = current.answer;
    if (ids.length === 2) {
      if (answer.choice === null) return { error: "Choose the better response (1 or 2), or 0 for a tie." };
      if (answer.choice === 0) return { tiers: [ids.slice()] };
      const best = ids[answer.choice - 1];
      return { tiers: [[best], ids.filter((id) => id !== best)] };
    }
    const unranked = ids.filter((id) => answer.ranks[id] === undefined);
    if (unranked.length) return { error: "Rank every response (" + unranked.length + " left)." };
    const byRank = {};
    ids.forEach((id) => (byRank[answer.ranks[id]] = (byRank[answer.ranks[id]] || []).concat([id])));
    return { tiers: Object.keys(byRank).map(Number).sort((a, b) => a - b).map((rank) => byRank[rank]) };
  }

  function payload() {
    if (cfg.project.rationale_required && !current.answer.rationale.trim()) return { error: "This project asks for a rationale." };
    if (current.task.item.kind === "critique") return critiquePayload();
    if (current.task.item.kind === "steps") return stepsPayload();
    const rank = ranking();
    if (rank.error) return rank;
    const answer = current.answer;
    const pairwise = current.task.responses.length === 2;
    const tied = rank.tiers.length === 1;
    if (cfg.project.strength_labels.length && pairwise && !tied && !answer.strength) return { error: "Choose a preference strength (" + STRENGTH_KEYS.slice(0, cfg.project.strength_labels.length).split("").join("/") + ")." };
    if (cfg.project.rationale_required && !answer.rationale.trim()) return { error: "This project asks for a rationale." };
    const flags = {};
    Object.entries(answer.flags).forEach(([id, list]) => list.length && (flags[id] = list));
    return {
      body: {
        ranking: rank.tiers,
        strength: tied ? null : answer.strength,
        all_bad: answer.allBad,
        flags: flags,
        rationale: answer.rationale,
        assist_ratings: answer.assistRatings || {},
        time_spent_ms: Math.round(performance.now() - current.shownAt),
      },
    };
  }

  async function submit() {
    if (!current || sending) return;
    const built = payload();
    if (built.error) {
      $("validation").textContent = built.error;
      return;
    }
    const entry = { assignment: current.task.assignment, body: built.body };
    setOutbox(outbox().filter((e) => e.assignment !== entry.assignment).concat([entry]));
    sending = true;
    $("submit").disabled = true;
    try {
      await deliver(entry);
    } catch (err) {
      sending = false;
      $("submit").disabled = false;
      banner("The server refused this answer: " + err.message + ". Your answers are still here; fix and submit again.");
      return;
    }
    sending = false;
    $("count-today").textContent = String(Number($("count-today").textContent) + 1);
    $("count-total").textContent = String(Number($("count-total").textContent) + 1);
    await advance();
  }

  // Sends one outbox entry until the server answers; network failures and 5xx are retried with backoff.
  async function deliver(entry) {
    let delay = 1000;
    for (;;) {
      try {
        await post(cfg.urls.submit.replace("__id__", String(entry.assignment)), entry.body);
        setOutbox(outbox().filter((e) => e.assignment !== entry.assignment));
        dropDraft(entry.assignment);
        banner(null);
        return;
      } catch (err) {
        const transient = !(err instanceof HttpError) || err.status >= 500 || err.status === 429;
        if (!transient) {
          setOutbox(outbox().filter((e) => e.assignment !== entry.assignment));
          throw err;
        }
        banner("Network problem: your answer is saved in this browser and will be sent again in " + Math.round(delay / 1000) + " s. Do not close this tab.", "warning");
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  async function advance() {
    const done = current ? current.task.assignment : null;
    let next = preloaded;
    preloaded = null;
    if (!next && preloading) {
      next = await preloading.catch(() => null);
      preloaded = null;
    }
    if (!next || next.assignment === done) {
      try {
        next = await fetchNext([]);
      } catch (err) {
        banner("Could not load the next task: " + err.message + ". Retrying…", "warning");
        setTimeout(advance, 3000);
        return;
      }
    }
    show(next);
    preload();
  }

  function preload() {
    if (!current) return;
    const holding = [current.task.assignment];
    preloading = fetchNext(holding)
      .then((task) => {
        preloaded = task && task.assignment !== holding[0] ? task : null;
        return preloaded;
      })
      .catch(() => (preloaded = null))
      .finally(() => (preloading = null));
  }

  async function skip(reason) {
    if (!current) return;
    try {
      await post(cfg.urls.skip.replace("__id__", String(current.task.assignment)), { reason: reason });
    } catch (err) {
      banner("Could not skip: " + err.message);
      return;
    }
    dropDraft(current.task.assignment);
    await advance();
  }

  // ---------- keyboard ----------
  document.addEventListener("keydown", (event) => {
    if (!current || document.querySelector("dialog[open]")) return;
    const typing = event.target && (event.target.tagName === "TEXTAREA" || event.target.tagName === "INPUT" || event.target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const pairwise = current.task.item.kind === "comparison" && current.task.responses.length === 2;
    const kway = current.task.item.kind === "comparison" && !pairwise;
    const key = event.key;
    if (key !== "Enter" && taskKeys(event)) return;
    if (key === "Enter") {
      event.preventDefault();
      submit();
    } else if (pairwise && (key === "1" || key === "2" || key === "0")) {
      update({ choice: Number(key) });
    } else if (kway && /^Digit[1-9]$/.test(event.code)) {
      const index = Number(event.code.slice(5)) - 1;
      const response = current.task.responses[index];
      if (!response) return;
      const ranks = Object.assign({}, current.answer.ranks);
      delete ranks[response.id];
      const used = Object.values(ranks);
      const top = used.length ? Math.max(...used) : 0;
      ranks[response.id] = event.shiftKey && top ? top : top + 1;
      update({ ranks: ranks });
    } else if (kway && key === "Backspace") {
      update({ ranks: {} });
    } else if (current.task.item.kind === "comparison" && STRENGTH_KEYS.slice(0, cfg.project.strength_labels.length).includes(key)) {
      setStrength(STRENGTH_KEYS.indexOf(key) + 1);
    } else if (key === "b" && current.task.item.kind === "comparison") {
      update({ allBad: !current.answer.allBad });
    } else if (key === "r") {
      event.preventDefault();
      $("rationale").focus();
    } else if (key === "h") {
      assistHidden = !assistHidden;
      document.querySelectorAll("details.assist").forEach((d) => (d.open = !assistHidden));
    } else if (key === "?") {
      $("instructions").showModal();
    } else if (key === "k") {
      $("skip-dialog").showModal();
    }
  });

  $("open-instructions").addEventListener("click", () => $("instructions").showModal());
  $("skip-open").addEventListener("click", () => current && $("skip-dialog").showModal());
  $("skip-cancel").addEventListener("click", () => $("skip-dialog").close());
  $("skip-form").addEventListener("submit", () => skip($("skip-reason").value));

  setInterval(() => {
    if (!current) return;
    const seconds = Math.floor((performance.now() - current.shownAt) / 1000);
    $("timer").textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }, 1000);

  // ---------- start: resend anything a previous visit could not, then show the first task ----------
  async function start() {
    for (const entry of outbox()) {
      try {
        await deliver(entry);
      } catch (err) {
        banner("An earlier answer (task " + entry.assignment + ") was refused: " + err.message);
      }
    }
    try {
      show(await fetchNext([]));
    } catch (err) {
      banner("Could not load a task: " + err.message + ". Retrying…", "warning");
      setTimeout(start, 3000);
      return;
    }
    preload();
  }
  start();
})();
