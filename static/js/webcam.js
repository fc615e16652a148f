// Captures a frame from the visitor's own camera every N seconds and sends it over the
// websocket. The reading of the newest result is shown large, with a bar per class; the
// last few results are listed below it, newest first. Results are pushed; without Redis
// (the server says "push": false) nothing is pushed, so the page asks for them (a "poll"
// message on the same socket), and with pushes it still asks now and then, in case one is lost.
(function () {
  "use strict";
  const video = document.getElementById("preview");
  const canvas = document.getElementById("frame");
  const toggle = document.getElementById("toggle");
  const intervalInput = document.getElementById("interval");
  const intervalNote = document.getElementById("interval-note");
  const connection = document.getElementById("connection");
  const message = document.getElementById("webcam-message");
  const results = document.getElementById("webcam-results");
  const current = document.getElementById("webcam-current");
  const MIN_S = Number(intervalInput.min);
  const MAX_S = Number(intervalInput.max);
  const BLANK_RETRIES = 20;
  const POLL_MS = { push: 5000, fallback: 1000 };
  const GIVE_UP_MS = 5 * 60 * 1000; // a frame unanswered this long is no longer asked for
  let stream = null;
  let timer = null;
  let newestId = 0;

  function say(text) {
    message.textContent = text || "";
  }

  // The interval the server accepts: out-of-range or empty values are corrected, and the page says so.
  function intervalSeconds() {
    const raw = intervalInput.value.trim();
    const asked = Number(raw);
    let seconds = Math.round(asked);
    let note = "";
    if (raw === "" || !Number.isFinite(asked)) {
      seconds = MIN_S > 10 ? MIN_S : 10;
      note = "Enter a number of seconds between " + MIN_S + " and " + MAX_S + "; using " + seconds + " s.";
    } else if (seconds < MIN_S) {
      note = raw + " s is faster than the server accepts frames; using the minimum, " + MIN_S + " s.";
      seconds = MIN_S;
    } else if (seconds > MAX_S) {
      note = raw + " s is above the maximum; using " + MAX_S + " s.";
      seconds = MAX_S;
    }
    intervalInput.value = String(seconds);
    intervalNote.textContent = note;
    return seconds;
  }

  function showCurrent(c, repeats) {
    if (c.status !== "done") return;
    current.hidden = false;
    document.getElementById("current-label").textContent = c.label_name || c.predicted_label;
    window.renderClassBars(document.getElementById("current-bars"), c.probabilities, c.predicted_label, c.display_names);
    const meta = document.getElementById("current-meta");
    meta.replaceChildren(window.Present.confidence(c.confidence, c.uncertain), " · ",
      window.Present.when(c.finished_at || c.created_at),
      repeats ? " · unchanged in the next " + repeats + " frame" + (repeats === 1 ? "" : "s") : "");
  }

  function show(c) {
    const empty = document.getElementById("webcam-empty");
    if (empty) empty.remove();
    const item = window.renderResultCard(c, {
      link: false,
      showName: false,
      meta: (r) => [window.Present.when(r.finished_at || r.created_at)],
    });
    const existing = results.querySelector('[data-id="' + c.id + '"]');
    if (existing) existing.replaceWith(item);
    else results.prepend(item);
    const keep = Number(results.dataset.keep) || 12;
    while (results.children.length > keep) results.lastElementChild.remove();
    if (c.id >= newestId) {
      newestId = c.id;
      showCurrent(c, 0);
    }
  }

  // Frames sent and not yet answered (public id -> when accepted), and whether results are pushed.
  const pending = new Map();
  let pushed = true;
  let pollTimer = null;

  function schedulePoll() {
    if (pollTimer || !pending.size) return;
    pollTimer = setTimeout(() => {
      pollTimer = null;
      const now = Date.now();
      pending.forEach((since, id) => now - since > GIVE_UP_MS && pending.delete(id));
      if (pending.size) socket.send(JSON.stringify({ type: "poll" }));
      schedulePoll();
    }, pushed ? POLL_MS.push : POLL_MS.fallback);
  }

  let repeats = 0;
  const socket = window.openLiveSocket("/ws/webcam/", {
    open: () => (connection.textContent = "connected"),
    close: () => (connection.textContent = "disconnected, retrying…"),
    message: (msg) => {
      if (msg.type === "ready") {
        pushed = msg.push !== false;
        pending.clear(); // a new socket: the old one's frames are not its to answer
        connection.textContent = pushed ? "connected" : "connected (results polled: no live pushes)";
      } else if (msg.type === "accepted" || msg.type === "result") {
        say("");  // frames pass again: an earlier refusal no longer applies
        if (msg.type === "accepted") {
          repeats = 0;
          pending.set(msg.classification.id, Date.now());
          schedulePoll();
        } else pending.delete(msg.classification.id);
        show(msg.classification);
      } else if (msg.type === "unchanged") {
        say("");
        repeats += 1;
        showCurrent(msg.classification, repeats);
      } else if (msg.type === "rejected" || msg.type === "expired") {
        say(msg.message);
      }
    },
  });

  // A frame decoded by the video element: before the first one arrives, a capture is black.
  function afterNextFrame(callback) {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => callback());
    else video.addEventListener("timeupdate", callback, { once: true });
  }

  function blank() {
    const sample = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < sample.length; i += 4 * 97) {
      if (sample[i] > 8 || sample[i + 1] > 8 || sample[i + 2] > 8) return false;
    }
    return true;
  }

  function capture(attempt) {
    if (!stream || !video.videoWidth) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    if (attempt !== undefined && blank() && attempt < BLANK_RETRIES) {
      afterNextFrame(() => capture(attempt + 1));  // the camera's first pictures can be black while it starts
      return;
    }
    canvas.toBlob(
      (blob) => blob && blob.arrayBuffer().then((buffer) => socket.send(buffer) || say("Not connected; frame skipped.")),
      "image/jpeg",
      0.85
    );
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => capture(), intervalSeconds() * 1000);
  }

  async function start() {
    say("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("This browser cannot use a camera here. Cameras need HTTPS (or localhost).");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
    } catch (err) {
      const reasons = {
        NotAllowedError: "Camera permission was denied. Allow the camera for this site and press Start again.",
        NotFoundError: "No camera was found on this device.",
        NotReadableError: "The camera is in use by another application.",
      };
      say(reasons[err.name] || "The camera could not be started: " + err.message);
      return;
    }
    video.srcObject = stream;
    toggle.textContent = "Stop";
    // The first capture waits for a decoded frame; the interval starts with it.
    afterNextFrame(() => {
      capture(0);
      schedule();
    });
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    toggle.textContent = "Start";
  }

  toggle.addEventListener("click", () => (stream ? stop() : start()));
  intervalInput.addEventListener("change", () => (stream ? schedule() : intervalSeconds()));
})();
