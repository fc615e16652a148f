// The cameras dashboard: each tile drawn from the page's data, then kept live by pushes
// (frames as they are classified, health changes, events) from /ws/cameras/.
(function () {
  "use strict";
  const data = document.getElementById("camera-tiles-data");
  if (!data) return;
  const tiles = JSON.parse(data.textContent);
  const STATUS = {
    online: "Online", offline: "Offline", connecting: "Connecting…",
    no_capturer: "No capture service running", disabled: "Disabled",
  };

  function field(tile, name) {
    return tile.querySelector('[data-field="' + name + '"]');
  }

  function time(iso) {
    return iso ? window.Present.formatWhen(new Date(iso)) : "never";
  }

  function draw(id) {
    const tile = document.querySelector('.camera-tile[data-camera="' + id + '"]');
    const state = tiles[id];
    if (!tile || !state) return;
    const health = state.health || {};
    const status = field(tile, "status");
    status.textContent = STATUS[health.status] || health.status;
    status.className = "badge badge--" + health.status;
    tile.dataset.status = health.status;
    field(tile, "meta").textContent = "Last frame " + time(health.last_frame_at) +
      (health.frames_taken ? " · " + health.frames_taken + " taken" : "");
    field(tile, "error").textContent = health.status === "online" || !health.last_error
      ? "" : "Last error (" + time(health.last_error_at) + "): " + health.last_error;
    const frame = state.frame;
    if (frame) {
      const image = field(tile, "image");
      if (image.getAttribute("src") !== frame.image_url) image.src = frame.image_url;
      image.hidden = false;
      field(tile, "no-frame").hidden = true;
      field(tile, "label").textContent = frame.label_name || frame.predicted_label || "—";
      if (frame.uncertain) field(tile, "label").append(" ", window.Present.confidence(frame.confidence, true));
      window.renderClassBars(field(tile, "bars"), frame.probabilities, frame.predicted_label, frame.display_names);
      tile.dataset.frame = frame.id;
    }
    const events = field(tile, "events");
    events.replaceChildren(...(state.events || []).map((event) => {
      const item = document.createElement("li");
      item.dataset.event = event.id;
      item.textContent = (event.label_name || event.label) + " · " + time(event.started_at) + "–" + time(event.ended_at) +
        " · " + event.frame_count + " frame" + (event.frame_count === 1 ? "" : "s");
      return item;
    }));
  }

  Object.keys(tiles).forEach(draw);

  const connection = document.getElementById("camera-connection");
  window.openLiveSocket("/ws/cameras/", {
    open: () => (connection.textContent = "live"),
    close: () => (connection.textContent = "disconnected, retrying…"),
    message: (msg) => {
      if (msg.type === "frame" && msg.classification.status === "done") {
        const id = Object.keys(tiles).find((key) => tiles[key].stream === msg.classification.stream);
        if (id) {
          tiles[id].frame = msg.classification;
          draw(id);
        }
      } else if (msg.type === "status" && tiles[msg.camera]) {
        tiles[msg.camera].health = msg.health;
        draw(String(msg.camera));
      } else if (msg.type === "event" && tiles[msg.camera]) {
        const events = (tiles[msg.camera].events || []).filter((event) => event.id !== msg.event.id);
        tiles[msg.camera].events = [msg.event, ...events].slice(0, 5);
        draw(String(msg.camera));
      }
    },
  });
})();
