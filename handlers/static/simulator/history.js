// The simulator's history and the two deletions, through the real API with the simulator's
// session (simulator.js announces it with "wz:signed-in"). Both deletions ask to confirm first,
// and both are idempotent: a repeat says that nothing changed.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var session = { token: null, cursor: null, pending: null };

  function call(method, path) {
    return fetch(path, {
      method: method,
      headers: { "Accept": "application/json", "Authorization": "Bearer " + session.token },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var error = body.error || { code: "http_" + response.status };
          error.status = response.status;
          throw error;
        }
        return body;
      });
    });
  }

  function load(more) {
    var path = "/api/v1/me/history?limit=10" +
      (more && session.cursor ? "&cursor=" + encodeURIComponent(session.cursor) : "");
    return call("GET", path).then(function (body) {
      window.WangzhengHistory.render($("sim-history"), body.entries, more);
      session.cursor = body.next_cursor;
      $("h-more").hidden = !session.cursor;
    }).catch(function (error) {
      $("sim-history").textContent = "";
      var item = document.createElement("li");
      item.textContent = error.status === 401 ? "— 已注销 signed out (account erased)" : error.code;
      $("sim-history").appendChild(item);
      $("h-more").hidden = true;
    });
  }

  function result(text, good) {
    $("del-result").className = good ? "good" : "bad";
    $("del-result").textContent = text;
  }

  var ACTIONS = {
    credential: {
      question: "删除网证？Delete my credential? Its QR stops verifying and the card leaves the card pack. The account stays.",
      run: function () {
        return call("DELETE", "/api/v1/credentials/current").then(function (body) {
          result(body.ended ? "网证已删除 Credential deleted." :
            "没有网证可删除 No credential to delete (nothing changed).", true);
          $("s-pass").hidden = true;
        });
      },
    },
    account: {
      question: "注销账号？Delete my account and data? The credential ends, sessions, device keys, preferences and history are deleted. This cannot be undone.",
      run: function () {
        return call("DELETE", "/api/v1/me").then(function (body) {
          result("账号已注销 Account erased: " + body.credentials_ended + " credential(s) ended, " +
            body.sessions + " session(s) and " + body.device_keys + " device key(s) deleted.", true);
          $("s-pass").hidden = true;
        }, function (error) {
          if (error.status !== 401) { throw error; }
          result("已注销 Already erased: nothing left to delete (nothing changed).", true);
        });
      },
    },
  };

  function ask(kind) {
    session.pending = kind;
    $("del-question").textContent = ACTIONS[kind].question;
    $("del-confirm").hidden = false;
  }

  $("del-credential").onclick = function () { ask("credential"); };
  $("del-account").onclick = function () { ask("account"); };
  $("del-no").onclick = function () { session.pending = null; $("del-confirm").hidden = true; };
  $("del-yes").onclick = function () {
    var kind = session.pending;
    $("del-confirm").hidden = true;
    session.pending = null;
    if (!kind) { return; }
    ACTIONS[kind].run().catch(function (error) {
      result(error.code + ": " + (error.message || ""), false);
    }).then(function () { return load(false); });
  };
  $("h-refresh").onclick = function () { load(false); };
  $("h-more").onclick = function () { load(true); };

  document.addEventListener("wz:signed-in", function (event) {
    session.token = event.detail.token;
    $("s-history").hidden = false;
    $("del-result").textContent = "";
    load(false);
  });
  document.addEventListener("wz:changed", function () { load(false); });
})();
