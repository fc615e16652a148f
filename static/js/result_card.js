// The one way a classification is drawn as a card, shared by every page.
window.renderResultCard = function (c, options) {
  "use strict";
  const opts = options || {};
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const li = el("li", "result result--" + c.status);
  li.dataset.id = c.id;
  li.dataset.status = c.status;
  const img = el("img", "thumb");
  img.src = c.thumbnail_url;
  img.alt = c.original_name || "image " + c.id;
  let picture = img;
  if (opts.link !== false) {
    picture = el("a");
    picture.href = c.detail_url;
    picture.appendChild(img);
  }
  const body = el("div", "result-body");
  if (opts.showName !== false) body.appendChild(el("div", "result-name", c.original_name || "image"));
  const label = el("div", "result-label");
  if (c.status === "done") {
    label.append(el("span", "label", c.predicted_label), " ", el("span", "confidence", c.confidence.toFixed(2)));
  } else if (c.status === "failed") {
    label.appendChild(el("span", "error", "Failed: " + (c.error_message || "unknown error")));
  } else {
    label.appendChild(el("span", "pending", c.status === "running" ? "Running…" : "Queued…"));
  }
  body.append(label, el("div", "result-meta", opts.meta ? opts.meta(c) : c.source + " · " + new Date(c.created_at).toLocaleString()));
  li.append(picture, body);
  return li;
};
