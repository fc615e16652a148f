// Per-class confidence bars, the one way the webcam page and the cameras dashboard draw a reading.
// Classes keep their order (by name), so a bar stays in place while its length changes live.
// Each bar says its class's display name and percentage in words; the top one is also bold.
window.renderClassBars = function (list, probabilities, topLabel, displayNames) {
  "use strict";
  const names = Object.keys(probabilities || {}).sort();
  const existing = new Map(Array.from(list.children).map((item) => [item.dataset.label, item]));
  names.forEach((name) => {
    let item = existing.get(name);
    if (!item) {
      item = document.createElement("li");
      item.dataset.label = name;
      const label = document.createElement("span");
      label.className = "class-bar-name";
      label.textContent = (displayNames && displayNames[name]) || name;
      const track = document.createElement("span");
      track.className = "class-bar-track";
      const fill = document.createElement("span");
      fill.className = "class-bar-fill";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "class-bar-value";
      item.append(label, track, value);
      list.appendChild(item);
    }
    const p = Number(probabilities[name]) || 0;
    item.querySelector(".class-bar-fill").style.width = (100 * p).toFixed(1) + "%";
    item.querySelector(".class-bar-value").textContent = window.Present.percent(p);
    item.classList.toggle("class-bar--top", name === topLabel);
    existing.delete(name);
  });
  existing.forEach((item) => item.remove());
};
