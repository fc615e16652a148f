// Captures a frame from the visitor's own camera every N seconds and sends it
// over the websocket; results are pushed back and listed newest first.
(function () {
  "use strict";
  const video = document.getElementById("preview");
  const canvas = document.getElementById("frame");
  const toggle = document.getElementById("toggle");
  const intervalInput = document.getElementById("interval");
  const connection = document.getElementById("connection");
  const message = document.getElementById("webcam-message");
  const results = document.getElementById("webcam-results");
  let stream = null;
  let timer = null;

  function say(text) {
    message.textContent = text || "";
  }

  function show(c) {
    const empty = document.getElementById("webcam-empty");
    if (empty) empty.remove();
    const item = window.renderResultCard(c, {
      link: false,
      showName: false,
      meta: (r) => new Date(r.finished_at || r.created_at).toLocaleTimeString(),
    });
    const existing = results.querySelector('[data-id="' + c.id + '"]');
    if (existing) existing.replaceWith(item);
    else results.prepend(item);
  }

  const socket = window.openLiveSocket("/ws/webcam/", {
    open: () => (connection.textContent = "connected"),
    close: () => (connection.textContent = "disconnected, retrying…"),
    message: (msg) => {
      if (msg.type === "accepted" || msg.type === "result") show(msg.classification);
      else if (msg.type === "rejected") say(msg.message);
    },
  });

  function capture() {
    if (!stream || !video.videoWidth) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(
      (blob) => blob && blob.arrayBuffer().then((buffer) => socket.send(buffer) || say("Not connected; frame skipped.")),
      "image/jpeg",
      0.85
    );
  }

  function schedule() {
    clearInterval(timer);
    const seconds = Math.max(1, Number(intervalInput.value) || 10);
    timer = setInterval(capture, seconds * 1000);
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
    video.addEventListener("loadeddata", capture, { once: true });
    schedule();
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
  intervalInput.addEventListener("change", () => stream && schedule());
})();
