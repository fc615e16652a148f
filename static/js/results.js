// Keeps result cards current: renders new ones, takes live pushes, and polls
// unfinished ones as a fallback (no Redis, or a socket that is down).
(function () {
  "use strict";
  const list = document.getElementById("results");
  if (!list) return;
  const statusUrl = list.dataset.statusUrl;
  const POLL_MS = 1000;
  let timer = null;

  function upsert(c) {
    const existing = list.querySelector('[data-id="' + c.id + '"]');
    const card = window.renderResultCard(c);
    if (existing) existing.replaceWith(card);
    else {
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.prepend(card);
      countOneMore();
    }
    if (c.status === "queued" || c.status === "running") schedule();
  }

  // History's count follows the cards that arrive live.
  function countOneMore() {
    const count = document.getElementById("history-count");
    if (!count) return;
    const n = Number(count.dataset.count) + 1;
    count.dataset.count = String(n);
    count.textContent = String(n);
    document.getElementById("history-count-noun").textContent = n === 1 ? "entry" : "entries";
  }

  function pendingIds() {
    return Array.from(list.querySelectorAll('[data-status="queued"], [data-status="running"]')).map((el) => el.dataset.id);
  }

  async function poll() {
    timer = null;
    const ids = pendingIds();
    if (!ids.length) return;
    try {
      const response = await fetch(statusUrl + "?ids=" + ids.join(","), { headers: { Accept: "application/json" } });
      if (response.ok) (await response.json()).classifications.forEach(upsert);
    } catch (err) {
      console.warn("status poll failed", err);
    }
    schedule();
  }

  function schedule() {
    if (!timer && pendingIds().length) timer = setTimeout(poll, POLL_MS);
  }

  window.Results = { upsert: upsert };
  schedule();

  // Live pushes: "all" shows every new result (history), "own" only updates cards on the page.
  if (window.openLiveSocket && list.dataset.live) {
    window.openLiveSocket("/ws/classifications/", {
      message: (msg) => {
        if (msg.type !== "result") return;
        const known = list.querySelector('[data-id="' + msg.classification.id + '"]');
        // Frames of cameras and webcams are shown as their events, not one by one.
        if (known || (list.dataset.live === "all" && !msg.classification.stream)) upsert(msg.classification);
      },
    });
  }
})();
