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

  // A credential that ended (deleted, replaced, card lost) is no pass any more: the card greys
  // out and says so, the history below tells why.
  var ENDED = { no_credential: 1, revoked: 1, superseded: 1, expired: 1 };

  function showError(error) {
    if (error && ENDED[error.code]) {
      passEl.className = "pass gone";
      document.getElementById("validity").textContent = "—";
      document.getElementById("name").textContent = "网证已失效 No valid pass";
    }
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

  // The citizen's history (issuances, ends, device changes, unlocks, reports, verifications);
  // it shows even when there is no pass any more (after "delete my credential").
  var historyCursor = null;
  function loadHistory(more) {
    var path = "/api/v1/me/history?limit=10" +
      (more && historyCursor ? "&cursor=" + encodeURIComponent(historyCursor) : "");
    return api("GET", path).then(function (body) {
      window.WangzhengHistory.render(document.getElementById("history"), body.entries, more);
      historyCursor = body.next_cursor;
      document.getElementById("history-more").hidden = !historyCursor;
    }).catch(function () { /* history is secondary; the pass still works */ });
  }
  document.getElementById("history-more").onclick = function () { loadHistory(true); };

  if (!token) { showError({ code: "session_invalid", message: "请从小程序打开 Open from the mini-program" }); return; }
  loadCredential().then(refreshQr).catch(showError);
  loadHistory(false);
  setInterval(function () {
    countdown -= 1;
    document.getElementById("countdown").textContent = countdown + " s";
    if (countdown === 0 && !historyCursor) { loadHistory(false); }  // once per refresh period
    if (countdown <= 0) { refreshQr(); }
  }, 1000);
})();
