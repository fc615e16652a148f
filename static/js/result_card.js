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
  img.alt = c.original_name || "image";
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
    label.append(el("span", "label", c.label_name || c.predicted_label), " ",
      window.Present.confidence(c.confidence, c.uncertain));
  } else if (c.status === "failed") {
    label.appendChild(el("span", "error", "Failed: " + (c.error_message || "unknown error")));
  } else {
    label.appendChild(el("span", "pending", c.status === "running" ? "Running…" : "Queued…"));
  }
  const meta = el("div", "result-meta");
  if (opts.meta) meta.append(...opts.meta(c));
  else meta.append(c.source_name + " · ", window.Present.when(c.created_at));
  body.append(label, meta);
  li.append(picture, body);
  return li;
};
