/* Merchant scanner: decodes the pass QR with jsQR (served by us) and calls /api/v1/verify.
   "With face" (刷證+刷臉, merchants granted the face capability): after the QR, a photo of the
   person from the same camera (or a file) goes with the token to /api/v1/verify/face.
   The merchant key lives in sessionStorage and leaves the page only as a Bearer header. */
"use strict";
(function () {
  const KEY = "wangzheng.merchantKey";
  const $ = (id) => document.getElementById(id);
  let stream = null;
  let scanning = false;
  let busy = false;
  let pendingToken = null;

  function showScanner(loggedIn) {
    $("login").classList.toggle("hidden", loggedIn);
    $("scanner").classList.toggle("hidden", !loggedIn);
  }

  function status(text) { $("status").textContent = text; }

  function field(list, name, value) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    list.append(dt, dd);
  }

  function render(body, httpStatus) {
    const box = $("result");
    const list = $("result-fields");
    list.replaceChildren();
    const valid = body && body.result === "valid";
    box.className = valid ? "valid" : "invalid";
    box.dataset.result = valid ? "valid" : "invalid";
    if (valid) {
      $("result-title").textContent = "✔ valid";
      field(list, "level", body.level);
      field(list, "pseudonym", body.subject_pseudonym);
      if (body.face) field(list, "face", body.face);
      for (const [name, value] of Object.entries(body.claims || {})) field(list, name, value);
    } else {
      const reason = body && body.reason ? body.reason
        : body && body.error ? body.error.code : "http_" + httpStatus;
      box.dataset.reason = reason;
      $("result-title").textContent = "✘ invalid";
      field(list, "reason", reason);
    }
  }

  function verify(token) {
    if (!$("with-face").checked) return send(token, null);
    pendingToken = token;
    $("face-step").classList.remove("hidden");
    status("pass read: now take the face of the person at the counter");
    return Promise.resolve();
  }

  async function sendFace(blob) {
    if (!pendingToken || !blob) return;
    const token = pendingToken;
    pendingToken = null;
    $("face-step").classList.add("hidden");
    await send(token, blob);
  }

  async function send(token, face) {
    busy = true;
    status("verifying…");
    const auth = { "Authorization": "Bearer " + sessionStorage.getItem(KEY) };
    const factors = $("need-password").checked ? ["password"] : [];
    try {
      let request;
      if (face) {
        const form = new FormData();
        form.append("token", token);
        form.append("scope", $("scope").value);
        form.append("required_level", $("required-level").value);
        if (factors.length) form.append("required_factors", factors[0]);
        form.append("photo", face, "counter.jpg");
        request = { method: "POST", headers: auth, body: form };
      } else {
        request = {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/json" },
          body: JSON.stringify({
            token: token,
            scope: $("scope").value,
            required_level: $("required-level").value,
            required_factors: factors,
          }),
        };
      }
      const response = await fetch(face ? "/api/v1/verify/face" : "/api/v1/verify", request);
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) {
        sessionStorage.removeItem(KEY);
        showScanner(false);
      }
      render(body, response.status);
      status("");
    } catch (err) {
      status("network error, try again");
    } finally {
      busy = false;
    }
  }

  function decode(source, width, height) {
    const canvas = $("frame");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0, width, height);
    const image = ctx.getImageData(0, 0, width, height);
    const code = window.jsQR(image.data, width, height, { inversionAttempts: "dontInvert" });
    return code && code.data ? code.data : null;
  }

  function tick() {
    if (!scanning) return;
    const video = $("video");
    if (!busy && video.readyState >= 2 && video.videoWidth > 0) {
      const token = decode(video, video.videoWidth, video.videoHeight);
      if (token) {
        scanning = false;
        $("scan-again").classList.remove("hidden");
        verify(token);
        return;
      }
    }
    requestAnimationFrame(tick);
  }

  async function startCamera() {
    $("result").className = "hidden";
    if (!stream) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" }, audio: false,
        });
      } catch (err) {
        status("camera unavailable: upload a photo instead");
        return;
      }
      $("video").srcObject = stream;
      $("video").classList.remove("hidden");
      await $("video").play();
    }
    status("point the camera at the pass QR");
    scanning = true;
    $("scan-again").classList.add("hidden");
    requestAnimationFrame(tick);
  }

  async function scanPhoto(file) {
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    const token = decode(bitmap, bitmap.width, bitmap.height);
    if (token) verify(token);
    else status("no QR found in that photo");
  }

  document.addEventListener("DOMContentLoaded", () => {
    showScanner(Boolean(sessionStorage.getItem(KEY)));
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("merchant-key").value.trim());
      $("merchant-key").value = "";
      showScanner(true);
    });
    $("logout").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      showScanner(false);
    });
    $("start-camera").addEventListener("click", startCamera);
    $("scan-again").addEventListener("click", startCamera);
    $("photo").addEventListener("change", (event) => scanPhoto(event.target.files[0]));
    $("face-photo").addEventListener("change", (event) => sendFace(event.target.files[0]));
    $("take-face").addEventListener("click", () => {
      const video = $("video");
      if (!video.videoWidth) { status("start the camera first, or choose a face photo"); return; }
      const canvas = $("frame");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(sendFace, "image/jpeg", 0.92);
    });
  });
})();
