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
    return { choice: null, ranks: {}, strength: null, allBad: false, flags: {}, rationale: "" };
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
    const pairwise = task.responses.length === 2;
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
    if (task.item.context) {
      parts.push(el("details", { class: "context card" }, [el("summary", { text: "Context document" }), el("div", { class: "md", html: task.item.context_html })]));
    }

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
    const pairwise = current.task.responses.length === 2;
    const key = event.key;
    if (key === "Enter") {
      event.preventDefault();
      submit();
    } else if (pairwise && (key === "1" || key === "2" || key === "0")) {
      update({ choice: Number(key) });
    } else if (!pairwise && /^Digit[1-9]$/.test(event.code)) {
      const index = Number(event.code.slice(5)) - 1;
      const response = current.task.responses[index];
      if (!response) return;
      const ranks = Object.assign({}, current.answer.ranks);
      delete ranks[response.id];
      const used = Object.values(ranks);
      const top = used.length ? Math.max(...used) : 0;
      ranks[response.id] = event.shiftKey && top ? top : top + 1;
      update({ ranks: ranks });
    } else if (!pairwise && key === "Backspace") {
      update({ ranks: {} });
    } else if (STRENGTH_KEYS.slice(0, cfg.project.strength_labels.length).includes(key)) {
      setStrength(STRENGTH_KEYS.indexOf(key) + 1);
    } else if (key === "b") {
      update({ allBad: !current.answer.allBad });
    } else if (key === "r") {
      event.preventDefault();
      $("rationale").focus();
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
