// The pass page: reads the access token from the URL fragment, then keeps the QR fresh.
// The token never goes into a URL the server sees, nor into localStorage.
(function () {
  "use strict";
  var KEY = "wangzheng.access_token";
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("access_token")) {
    sessionStorage.setItem(KEY, fragment.get("access_token"));
    history.replaceState(null, "", window.location.pathname);
  }
  var token = sessionStorage.getItem(KEY);
  var passEl = document.getElementById("pass");
  var refreshS = parseInt(passEl.dataset.refresh, 10) || 30;
  var statusEl = document.getElementById("status");
  var countdown = refreshS;

  function api(method, path) {
    return fetch(path, {
      method: method,
      headers: { "Authorization": "Bearer " + token, "Accept": "application/json" },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw body.error || { code: "http_" + response.status }; }
        return body;
      });
    });
  }

  function showError(error) {
    statusEl.className = "status-bad";
    statusEl.textContent = (error && error.message) || "error";
    document.getElementById("qr").textContent = (error && error.code) || "unavailable";
  }

  function loadCredential() {
    return api("GET", "/api/v1/credentials/current").then(function (view) {
      document.getElementById("name").textContent = view.masked_name;
      document.getElementById("level").textContent =
        view.level === "upgraded" ? "升级版 upgraded" : "基础版 light";
      document.getElementById("validity").textContent = view.expires_at.slice(0, 10);
      passEl.className = "pass " + view.level;
      if (!view.valid) { throw { code: view.status, message: "credential " + view.status }; }
    });
  }

  function refreshQr() {
    return api("POST", "/api/v1/credentials/current/qr").then(function (body) {
      document.getElementById("qr").innerHTML = body.svg;  // server-rendered SVG of our token
      statusEl.className = "meta";
      statusEl.textContent = "";
      countdown = refreshS;
    }).catch(showError);
  }

  function loadHistory() {
    return api("GET", "/api/v1/me/verifications?limit=5").then(function (body) {
      var list = document.getElementById("history");
      list.textContent = "";
      (body.verifications || []).forEach(function (entry) {
        var item = document.createElement("li");
        item.textContent = entry.at.slice(0, 16).replace("T", " ") + " · " + entry.merchant +
          " · " + entry.result + (entry.disclosed ? " · " + entry.disclosed.join(", ") : "");
        list.appendChild(item);
      });
      if (!list.children.length) { list.innerHTML = "<li>—</li>"; }
    }).catch(function () { /* history is secondary; the pass still works */ });
  }

  if (!token) { showError({ code: "session_invalid", message: "请从小程序打开 Open from the mini-program" }); return; }
  loadCredential().then(refreshQr).then(loadHistory).catch(showError);
  setInterval(function () {
    countdown -= 1;
    document.getElementById("countdown").textContent = countdown + " s";
    if (countdown <= 0) { refreshQr(); loadHistory(); }
  }, 1000);
})();
