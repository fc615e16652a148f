// How every page shows confidences and times, the same for server-rendered and live cards
// (classification/web/presentation.py renders the server side): a percentage with a bar and an
// "uncertain" badge; times in the visitor's time zone, relative when recent.
window.Present = (function () {
  "use strict";
  const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  const absolute = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const full = new Intl.DateTimeFormat("en-GB", { dateStyle: "full", timeStyle: "long" });
  const RECENT_S = 24 * 3600;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(p) {
    return Math.round(100 * Number(p)) + "%";
  }

  function formatWhen(date) {
    const seconds = (Date.now() - date.getTime()) / 1000;
    if (seconds < 45) return "just now";
    if (seconds < 3600) return relative.format(-Math.round(seconds / 60), "minute");
    if (seconds < RECENT_S) return relative.format(-Math.round(seconds / 3600), "hour");
    return absolute.format(date);
  }

  function render(node) {
    const date = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) return;
    node.textContent = formatWhen(date);
    node.title = full.format(date);
  }

  function when(iso) {
    const node = el("time");
    node.setAttribute("datetime", iso);
    node.dataset.when = "";
    render(node);
    return node;
  }

  // A confidence as the server renders it (_confidence.html): bar, percentage, badge when uncertain.
  function confidence(value, uncertain, prefix) {
    const fragment = document.createDocumentFragment();
    const wrap = el("span", "confidence", prefix || "");
    const meter = el("span", "meter");
    meter.setAttribute("aria-hidden", "true");
    const fill = el("span", "meter-fill");
    fill.style.width = percent(value);
    meter.appendChild(fill);
    wrap.append(meter, " ", el("span", "confidence-value", percent(value)));
    fragment.appendChild(wrap);
    if (uncertain) {
      const badge = el("span", "badge badge--uncertain", "uncertain");
      badge.title = "below the review threshold";
      fragment.append(" ", badge);
    }
    return fragment;
  }

  function refresh(root) {
    (root || document).querySelectorAll("time[data-when]").forEach(render);
  }

  refresh();
  setInterval(refresh, 30000);
  return { percent: percent, when: when, confidence: confidence, refresh: refresh, formatWhen: formatWhen };
})();
