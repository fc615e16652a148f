// Sends chosen or dropped files (folders too) without a page reload, in batches of at most the
// server's files-per-request limit, with each file's and the overall progress. The form still
// works without scripts (one request, the server's messages).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const folderInput = document.getElementById("folder-input");
  const rejectedList = document.getElementById("rejected");
  const message = document.getElementById("upload-message");
  const progress = document.getElementById("upload-progress");
  const overall = document.getElementById("overall-progress");
  const overallText = document.getElementById("overall-text");
  const fileList = document.getElementById("file-progress");
  if (!form || !input) return;
  const MAX_FILES = Number(form.dataset.maxFiles) || 20;
  const MAX_BYTES = Number(form.dataset.maxBytes) || 10 * 1024 * 1024;
  const BATCH_BYTES = 64 * 1024 * 1024; // one request's body stays well within the server's body timeout
  const IMAGE_NAME = /\.(jpe?g|png|gif|webp|bmp|tiff?)$/i;
  let busy = false;

  // The same units as the server's messages (classification/intake/validation.py, human_size).
  function humanSize(size) {
    if (size < 1024) return size.toLocaleString("en") + " bytes";
    const units = ["KB", "MB", "GB"];
    let value = size;
    for (let i = 0; i < units.length; i += 1) {
      value /= 1024;
      if (value < 1024 || i === units.length - 1) return value.toFixed(1) + " " + units[i];
    }
    return value.toFixed(1) + " GB";
  }

  function say(text) {
    message.textContent = text || "";
  }

  function addRejected(name, text) {
    const li = document.createElement("li");
    const strong = document.createElement("strong");
    strong.textContent = name || "Upload";
    li.append(strong, ": " + text);
    rejectedList.appendChild(li);
  }

  // Files of a dropped folder, read through its entries (and its sub-folders').
  function readEntry(entry) {
    if (entry.isFile) return new Promise((resolve) => entry.file((file) => resolve([file]), () => resolve([])));
    if (!entry.isDirectory) return Promise.resolve([]);
    const reader = entry.createReader();
    return new Promise((resolve) => {
      const found = [];
      const next = () => reader.readEntries(async (entries) => {
        if (!entries.length) return resolve(found);
        for (const child of entries) found.push(...(await readEntry(child)));
        next();
      }, () => resolve(found));
      next();
    });
  }

  async function droppedFiles(dataTransfer) {
    const entries = Array.from(dataTransfer.items || [])
      .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null)).filter(Boolean);
    if (!entries.length) return { files: Array.from(dataTransfer.files), folder: false };
    const files = [];
    for (const entry of entries) files.push(...(await readEntry(entry)));
    return { files: files, folder: entries.some((entry) => entry.isDirectory) };
  }

  function row(file) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    name.title = file.name + " (" + humanSize(file.size) + ")";
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    const state = document.createElement("span");
    state.className = "file-state";
    state.textContent = "waiting · " + humanSize(file.size);
    li.append(name, bar, state);
    fileList.appendChild(li);
    return { file: file, bar: bar, state: state };
  }

  function setState(item, text, kind) {
    item.state.textContent = text;
    item.state.className = "file-state" + (kind ? " file-state--" + kind : "");
  }

  function batches(items) {
    const groups = [];
    let group = [];
    let bytes = 0;
    items.forEach((item) => {
      if (group.length && (group.length >= MAX_FILES || bytes + item.file.size > BATCH_BYTES)) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(item);
      bytes += item.file.size;
    });
    if (group.length) groups.push(group);
    return groups;
  }

  // One request; its upload progress is shared out over its files in the order they are sent.
  function post(group, onProgress) {
    return new Promise((resolve, reject) => {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      group.forEach((item) => data.append("files", item.file, item.file.name));
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (err) {
          body = { accepted: [], rejected: [{ name: "", message: "The server answered " + xhr.status + "." }] };
        }
        resolve({ status: xhr.status, body: body });
      };
      xhr.onerror = () => reject(new Error("the connection failed"));
      xhr.send(data);
    });
  }

  async function send(fileArray, fromFolder) {
    say("");
    if (busy) {
      say("Wait until the photos being sent are done.");
      return;
    }
    let files = Array.from(fileArray || []);
    if (!files.length) {
      say("Choose one or more photos first (or drop them here).");
      return;
    }
    rejectedList.replaceChildren();
    fileList.replaceChildren();
    if (fromFolder) {
      const skipped = files.filter((file) => !(file.type.startsWith("image/") || IMAGE_NAME.test(file.name)));
      if (skipped.length) addRejected("", skipped.length + " file" + (skipped.length === 1 ? "" : "s") +
        " in the folder skipped: not images");
      files = files.filter((file) => !skipped.includes(file));
      if (!files.length) {
        say("The folder holds no photos.");
        return;
      }
    }
    const items = files.map(row);
    const tooLarge = items.filter((item) => item.file.size > MAX_BYTES);
    tooLarge.forEach((item) => {
      const text = "The file is " + humanSize(item.file.size) + "; the limit is " + humanSize(MAX_BYTES) + ".";
      setState(item, "refused: too large", "refused");
      addRejected(item.file.name, text);
    });
    const sending = items.filter((item) => !tooLarge.includes(item));
    const total = sending.reduce((sum, item) => sum + item.file.size, 0) || 1;
    let doneBytes = 0;
    let sentFiles = 0;
    progress.hidden = false;
    busy = true;
    form.classList.add("dropzone--busy");
    const groups = batches(sending);
    function showOverall(extraBytes) {
      overall.value = Math.round((100 * (doneBytes + extraBytes)) / total);
      overallText.textContent = sentFiles + " of " + sending.length + " file" + (sending.length === 1 ? "" : "s") +
        (groups.length > 1 ? " in " + groups.length + " batches" : "") + " · " + overall.value + "%";
    }
    showOverall(0);
    try {
      for (const group of groups) {
        const groupBytes = group.reduce((sum, item) => sum + item.file.size, 0) || 1;
        group.forEach((item) => setState(item, "sending"));
        const answer = await post(group, (fraction) => {
          let offset = 0;
          group.forEach((item) => {
            const part = Math.min(Math.max((fraction * groupBytes - offset) / (item.file.size || 1), 0), 1);
            item.bar.value = Math.round(100 * part);
            offset += item.file.size;
          });
          showOverall(fraction * groupBytes);
        });
        const refused = new Map((answer.body.rejected || []).map((r) => [r.name, r.message]));
        group.forEach((item) => {
          item.bar.value = 100;
          if (refused.has(item.file.name)) setState(item, "refused", "refused");
          else if (answer.status < 300) setState(item, "sent, classifying", "sent");
        });
        (answer.body.rejected || []).forEach((r) => addRejected(r.name, r.message));
        (answer.body.accepted || []).forEach(window.Results.upsert);
        doneBytes += groupBytes;
        sentFiles += group.length;
        showOverall(0);
        if (answer.status === 429) {
          say("The server asks to slow down: " + (sending.length - sentFiles) + " file(s) not sent. Try them again in a minute.");
          break;
        }
      }
    } catch (err) {
      say("The upload failed: " + err.message + ". " + (sending.length - sentFiles) + " file(s) not sent.");
    } finally {
      busy = false;
      form.classList.remove("dropzone--busy");
      input.value = "";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(input.files, false);
  });
  input.addEventListener("change", () => input.files.length && send(input.files, false));
  if (folderInput) {
    folderInput.addEventListener("change", () => {
      if (folderInput.files.length) send(Array.from(folderInput.files), true);
      folderInput.value = "";
    });
  }
  ["dragenter", "dragover"].forEach((type) =>
    form.addEventListener(type, (event) => {
      event.preventDefault();
      form.classList.add("dropzone--over");
    })
  );
  ["dragleave", "drop"].forEach((type) =>
    form.addEventListener(type, (event) => {
      event.preventDefault();
      form.classList.remove("dropzone--over");
    })
  );
  form.addEventListener("drop", async (event) => {
    const dropped = await droppedFiles(event.dataTransfer);
    send(dropped.files, dropped.folder);
  });
})();
