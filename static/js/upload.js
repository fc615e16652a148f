// Sends chosen or dropped files without a page reload; the form still works without JS.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const rejectedList = document.getElementById("rejected");
  if (!form || !input) return;

  function showRejected(items) {
    rejectedList.replaceChildren();
    items.forEach((item) => {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = item.name || "Upload";
      li.appendChild(name);
      li.appendChild(document.createTextNode(": " + item.message));
      rejectedList.appendChild(li);
    });
  }

  async function send(files) {
    if (!files.length) return;
    const data = new FormData();
    data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    Array.from(files).forEach((file) => data.append("files", file, file.name));
    form.classList.add("dropzone--busy");
    try {
      const response = await fetch(form.action, { method: "POST", body: data, headers: { Accept: "application/json" } });
      let body;
      try {
        body = await response.json();
      } catch (err) {
        body = { accepted: [], rejected: [{ name: "", message: "The server answered " + response.status + "." }] };
      }
      showRejected(body.rejected || []);
      (body.accepted || []).forEach(window.Results.upsert);
    } catch (err) {
      showRejected([{ name: "", message: "The upload failed: " + err.message }]);
    } finally {
      form.classList.remove("dropzone--busy");
      input.value = "";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(input.files);
  });
  input.addEventListener("change", () => send(input.files));
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
  form.addEventListener("drop", (event) => send(event.dataTransfer.files));
})();
