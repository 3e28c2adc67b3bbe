// Trusted-terminal simulator: signs every request with the demo terminal's key (WebCrypto).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var encoder = new TextEncoder();
  var state = { terminal: null, key: null, session: null, status: null, cards: [], live: null };

  function log(text) { $("log").textContent = text + "\n" + $("log").textContent; }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function nonce() {
    var bytes = crypto.getRandomValues(new Uint8Array(18));
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The rule of docs/terminals.md: METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n hex(SHA-256(body)).
  async function signed(method, path, body, contentType) {
    var bytes = body || new Uint8Array(0);
    var timestamp = String(Math.floor(Date.now() / 1000));
    var once = nonce();
    var bodyHash = hex(await crypto.subtle.digest("SHA-256", bytes));
    var canonical = [method, path, timestamp, once, bodyHash].join("\n");
    var key = await crypto.subtle.importKey("raw", encoder.encode(state.key),
      { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    var signature = hex(await crypto.subtle.sign("HMAC", key, encoder.encode(canonical)));
    var headers = { "Accept": "application/json", "X-WZ-Terminal": state.terminal,
      "X-WZ-Timestamp": timestamp, "X-WZ-Nonce": once, "X-WZ-Signature": signature };
    if (contentType) { headers["Content-Type"] = contentType; }
    var response = await fetch(path, { method: method, headers: headers, body: body || undefined });
    var payload = await response.json();
    if (!response.ok) { throw payload.error || { code: "http_" + response.status }; }
    return payload;
  }

  // A multipart body built by hand: its exact bytes are what the signature covers.
  async function multipart(fields) {
    var boundary = "wzterminal" + nonce().replace(/[^A-Za-z0-9]/g, "");
    var chunks = [];
    for (var i = 0; i < fields.length; i++) {
      var name = fields[i][0], value = fields[i][1];
      var head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"";
      if (value instanceof Blob) {
        head += "; filename=\"" + name + ".jpg\"\r\nContent-Type: image/jpeg";
        chunks.push(encoder.encode(head + "\r\n\r\n"), new Uint8Array(await value.arrayBuffer()));
      } else {
        chunks.push(encoder.encode(head + "\r\n\r\n" + value));
      }
      chunks.push(encoder.encode("\r\n"));
    }
    chunks.push(encoder.encode("--" + boundary + "--\r\n"));
    var total = chunks.reduce(function (n, c) { return n + c.length; }, 0);
    var body = new Uint8Array(total), offset = 0;
    chunks.forEach(function (c) { body.set(c, offset); offset += c.length; });
    return { body: body, type: "multipart/form-data; boundary=" + boundary };
  }

  function show(session) {
    state.status = session.status;
    $("status").textContent = session.status;
    $("claimed-by").textContent = session.claimed_by ? "· claimed by " + session.claimed_by : "";
    $("read").disabled = session.status !== "ready";
  }

  async function poll(sessionId) {
    while (state.session === sessionId && state.status !== "issued") {
      try {
        show(await signed("GET", "/api/v1/terminal/sessions/" + sessionId + "?wait=10&seen=" + state.status));
      } catch (error) {
        log("poll: " + error.code); $("status").textContent = error.code; return;
      }
    }
  }

  $("open").onclick = async function () {
    try {
      var session = await signed("POST", "/api/v1/terminal/sessions");
      state.session = session.session_id;
      $("qr-payload").textContent = session.qr_payload;
      var drawn = await fetch("/terminal/api/qr", { method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ payload: session.qr_payload }) }).then(function (r) { return r.json(); });
      $("qr").innerHTML = drawn.svg;
      $("result").textContent = "";
      show(session);
      poll(session.session_id);
    } catch (error) { log("open: " + error.code); }
  };

  function pickCard() {
    var card = state.cards[$("card").selectedIndex];
    $("chip").src = card.chip_photo_url;
  }

  $("live").onchange = function () {
    var name = $("live").value;
    if (!name) { state.live = null; $("live-preview").hidden = true; return; }
    fetch("/simulator/samples/" + name).then(function (r) { return r.blob(); }).then(function (blob) {
      state.live = blob;
      $("live-preview").src = URL.createObjectURL(blob);
      $("live-preview").hidden = false;
    });
  };

  $("camera").onclick = function () {
    navigator.mediaDevices.getUserMedia({ video: true, audio: false }).then(function (stream) {
      $("video").srcObject = stream; $("video").hidden = false; $("capture").hidden = false;
    }).catch(function (error) { log("camera unavailable: " + error.name); });
  };
  $("capture").onclick = function () {
    var video = $("video"), canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(function (blob) {
      state.live = blob;
      $("live-preview").src = URL.createObjectURL(blob);
      $("live-preview").hidden = false;
    }, "image/jpeg", 0.92);
  };

  $("read").onclick = async function () {
    var card = state.cards[$("card").selectedIndex];
    $("read").disabled = true;
    try {
      var chip = await fetch(card.chip_photo_url).then(function (r) { return r.blob(); });
      var fields = [["name", card.name], ["id_number", card.id_number],
        ["expires_on", card.expires_on], ["photo", chip]];
      if (state.live) { fields.push(["live_face", state.live]); }
      var form = await multipart(fields);
      var path = "/api/v1/terminal/sessions/" + state.session + "/card";
      var issued = await signed("POST", path, form.body, form.type);
      $("result").className = "good";
      $("result").textContent = "Issued an " + issued.level + " credential" +
        (issued.face_similarity !== null ? " (live face similarity " + issued.face_similarity + ")" : "");
    } catch (error) {
      $("result").className = "bad";
      $("result").textContent = error.code + ": " + (error.message || "");
      $("read").disabled = state.status !== "ready";
    }
  };

  fetch("/terminal/api/setup", { method: "POST", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.json(); }).then(function (setup) {
      state.terminal = setup.terminal_id; state.key = setup.key; state.cards = setup.cards;
      $("terminal-id").textContent = setup.terminal_id;
      $("site").textContent = setup.site;
      setup.cards.forEach(function (card) {
        var option = document.createElement("option");
        option.textContent = card.name + " (" + card.user + ")";
        $("card").appendChild(option);
      });
      setup.live_samples.forEach(function (name) {
        var option = document.createElement("option");
        option.value = name; option.textContent = name;
        $("live").appendChild(option);
      });
      $("card").onchange = pickCard;
      pickCard();
      $("open").disabled = false;
    }).catch(function () { log("setup failed"); });
})();
