// Browser simulator of the mini-program: login, liveness challenge, enrolment, pass.
(function () {
  "use strict";
  var state = { token: null, person: null, challenge: null, frames: [] };
  var $ = function (id) { return document.getElementById(id); };
  var deviceId = localStorage.getItem("wangzheng.sim.device") ||
    ("sim-" + Math.random().toString(36).slice(2) + Date.now().toString(36));
  localStorage.setItem("wangzheng.sim.device", deviceId);

  function log(text) { $("log").textContent = text + "\n" + $("log").textContent; }

  function call(method, path, body, isForm) {
    var headers = { "Accept": "application/json" };
    if (state.token) { headers.Authorization = "Bearer " + state.token; }
    if (body && !isForm) { headers["Content-Type"] = "application/json"; body = JSON.stringify(body); }
    return fetch(path, { method: method, headers: headers, body: body }).then(function (response) {
      return response.json().then(function (payload) {
        if (!response.ok) { throw payload.error || { code: "http_" + response.status }; }
        return payload;
      });
    });
  }

  // The install's P-256 key (WebCrypto), kept with the device id; every login signs a fresh
  // server nonce with it, as the mini-program does (docs: bot/devices/keys.py).
  var ECDSA = { name: "ECDSA", namedCurve: "P-256" };
  function b64(buffer) { return btoa(String.fromCharCode.apply(null, new Uint8Array(buffer))); }

  function deviceKey() {
    var subtle = window.crypto.subtle;
    var saved = localStorage.getItem("wangzheng.sim.key");
    if (saved) {
      var record = JSON.parse(saved);
      return subtle.importKey("jwk", record.private, ECDSA, false, ["sign"]).then(function (key) {
        return { privateKey: key, spki: record.spki };
      });
    }
    return subtle.generateKey(ECDSA, true, ["sign", "verify"]).then(function (pair) {
      return Promise.all([
        subtle.exportKey("jwk", pair.privateKey), subtle.exportKey("spki", pair.publicKey),
      ]).then(function (exported) {
        var record = { private: exported[0], spki: b64(exported[1]) };
        localStorage.setItem("wangzheng.sim.key", JSON.stringify(record));
        return { privateKey: pair.privateKey, spki: record.spki };
      });
    });
  }

  function deviceProof() {
    return Promise.all([deviceKey(), call("POST", "/api/v1/mp/login/nonce")]).then(function (got) {
      var key = got[0], nonce = got[1].nonce;
      var message = new TextEncoder().encode("wangzheng-device-login\n" + nonce + "\n" + deviceId);
      return window.crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, message)
        .then(function (signature) {
          return { nonce: nonce, signature: b64(signature), public_key: key.spki };
        });
    });
  }

  function login(person) {
    return deviceProof().then(function (proof) {
      return call("POST", "/api/v1/mp/login", {
        code: "dev:" + person.user,
        device: { device_id: deviceId, model: "browser-simulator" },
        device_key: proof,
      });
    }).then(function (tokens) {
      state.token = tokens.access_token;
      state.person = person;
      $("who").textContent = person.name;
      $("who-id").textContent = person.id_number;
      $("s-login").className = "done";
      $("s-enrol").hidden = false;
      $("s-terminal").hidden = false;
      $("pass-link").href = "/pass#access_token=" + encodeURIComponent(state.token);
      $("use-samples").hidden = !person.samples_available;
      log("logged in as " + person.user + " on " + deviceId);
      // history.js (the history and the two deletions) works with the same session.
      document.dispatchEvent(new CustomEvent("wz:signed-in", { detail: { token: state.token } }));
    }).catch(function (error) { log("login failed: " + error.code + " " + (error.message || "")); });
  }

  function showPeople(payload) {
    var box = $("people");
    box.textContent = "";
    payload.people.forEach(function (person) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = person.name + " (" + person.user + ")";
      button.onclick = function () { login(person); };
      box.appendChild(button);
    });
  }

  function addFrame(blob) {
    state.frames.push(blob);
    var img = document.createElement("img");
    img.src = URL.createObjectURL(blob);
    $("frames").appendChild(img);
    var needed = state.challenge ? state.challenge.frames : 0;
    $("submit").disabled = !state.challenge || state.frames.length !== needed;
  }

  function resetFrames() { state.frames = []; $("frames").textContent = ""; $("submit").disabled = true; }

  function startCamera(video) {
    return navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false })
      .then(function (stream) { video.srcObject = stream; video.hidden = false; });
  }

  function grab(video) {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.92); });
  }

  $("challenge").onclick = function () {
    resetFrames();
    call("POST", "/api/v1/liveness/challenges").then(function (challenge) {
      state.challenge = challenge;
      var words = { left: "向左转 turn left", right: "向右转 turn right" };
      $("steps").textContent = "Look straight, then " +
        challenge.steps.map(function (s) { return words[s]; }).join(", then ") +
        " — " + challenge.frames + " frames within " + challenge.expires_in + " s";
    }).catch(function (error) { log("challenge failed: " + error.code); });
  };

  $("use-samples").onclick = function () {
    if (!state.challenge) { log("get a challenge first"); return; }
    if (state.challenge.steps.length !== 1) { log("sample photos answer one-turn challenges only"); return; }
    resetFrames();
    var files = state.person.frames[state.challenge.steps[0]];
    files.reduce(function (chain, name) {
      return chain.then(function () {
        return fetch("/simulator/samples/" + name).then(function (r) { return r.blob(); }).then(addFrame);
      });
    }, Promise.resolve());
  };

  $("camera").onclick = function () {
    startCamera($("video")).then(function () { $("capture").hidden = false; })
      .catch(function (error) { log("camera unavailable: " + error.name); });
  };
  $("capture").onclick = function () { grab($("video")).then(addFrame); };
  $("upload").onchange = function (event) {
    resetFrames();
    Array.prototype.forEach.call(event.target.files, addFrame);
  };

  $("submit").onclick = function () {
    var form = new FormData();
    form.append("name", state.person.name);
    form.append("id_number", state.person.id_number);
    form.append("challenge_id", state.challenge.challenge_id);
    state.frames.forEach(function (blob, i) { form.append("frames", blob, "frame" + i + ".jpg"); });
    $("submit").disabled = true;
    call("POST", "/api/v1/enrollments/light", form, true).then(function (result) {
      $("enrol-result").className = "good";
      $("enrol-result").textContent = "Issued a " + result.level + " credential (similarity " +
        result.similarity + " ≥ " + result.threshold + ")";
      $("pass-link").href = "/pass#access_token=" + encodeURIComponent(state.token);
      $("bills-link").href = "/simulator/bills#access_token=" + encodeURIComponent(state.token);
      $("s-pass").hidden = false;
      document.dispatchEvent(new CustomEvent("wz:changed"));
    }).catch(function (error) {
      $("enrol-result").className = "bad";
      $("enrol-result").textContent = error.code + ": " + (error.message || "");
      state.challenge = null;
    });
  };

  $("self-camera").onclick = function () {
    startCamera($("self-video")).catch(function (error) { log("camera unavailable: " + error.name); });
  };
  $("self-capture").onclick = function () {
    grab($("self-video")).then(function (blob) {
      var form = new FormData();
      form.append("name", $("self-name").value);
      form.append("photo", blob, "reference.jpg");
      return call("POST", "/simulator/api/self-registrations", form, true);
    }).then(function (record) {
      $("self-result").textContent = "Registered " + record.name + " · " + record.id_number;
      login({ user: "self-" + record.id_number.slice(-6), name: record.name, id_number: record.id_number,
              frames: {}, samples_available: false });
    }).catch(function (error) { $("self-result").textContent = error.code + ": " + (error.message || ""); });
  };

  // Terminal visit: claim the terminal's session, then set the password of the colour pass.
  var visit = { session: null };
  $("tv-claim").onclick = function () {
    call("POST", "/api/v1/terminal-claims", { qr_payload: $("tv-payload").value.trim() })
      .then(function (claimed) {
        visit.session = claimed.session_id;
        $("tv-set").disabled = false;
        $("tv-result").className = "good";
        $("tv-result").textContent = "Claimed; now set an 8-digit password.";
      }).catch(function (error) {
        $("tv-result").className = "bad";
        $("tv-result").textContent = error.code + ": " + (error.message || "");
      });
  };
  $("tv-set").onclick = function () {
    call("PUT", "/api/v1/terminal-claims/" + visit.session + "/password",
      { password: $("tv-password").value }).then(function () {
      $("tv-result").className = "good";
      $("tv-result").textContent = "Password set (ready): swipe the ID card at the terminal, then open the pass.";
      $("s-pass").hidden = false;
    }).catch(function (error) {
      $("tv-result").className = "bad";
      $("tv-result").textContent = error.code + ": " + (error.message || "");
    });
  };
  $("tv-scan").onclick = function () {
    var video = $("tv-video");
    startCamera(video).then(function () {
      var canvas = document.createElement("canvas");
      var timer = setInterval(function () {
        if (!video.videoWidth) { return; }
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        var context = canvas.getContext("2d");
        context.drawImage(video, 0, 0);
        var found = window.jsQR(context.getImageData(0, 0, canvas.width, canvas.height).data,
          canvas.width, canvas.height);
        if (found && found.data.indexOf("WZT1.") === 0) {
          clearInterval(timer);
          $("tv-payload").value = found.data;
          video.srcObject.getTracks().forEach(function (track) { track.stop(); });
          video.hidden = true;
        }
      }, 300);
    }).catch(function (error) { log("camera unavailable: " + error.name); });
  };

  // "Unlock with fingerprint" (WeChat SOTER): the preference, and the unlock step itself. The
  // emulator plays the phone's TEE (wx.startSoterAuthentication) and signs our challenge.
  var prefs = { notify_on_verification: false, unlock_with: "off" };
  function showUnlock(unlockWith) {
    prefs.unlock_with = unlockWith;
    $("unlock-pref").checked = unlockWith !== "off";
    $("unlock-step").hidden = unlockWith === "off";
  }
  function loadPreferences() {
    call("GET", "/api/v1/me/preferences").then(function (current) {
      prefs = current;
      showUnlock(current.unlock_with);
    }).catch(function (error) { log("preferences unavailable: " + error.code); });
  }
  $("unlock-pref").onchange = function () {
    var wanted = $("unlock-pref").checked ? "fingerprint" : "off";
    call("PUT", "/api/v1/me/preferences",
      { notify_on_verification: prefs.notify_on_verification, unlock_with: wanted })
      .then(function (saved) {
        prefs = saved;
        showUnlock(saved.unlock_with);
        log("unlock with fingerprint: " + saved.unlock_with);
        document.dispatchEvent(new CustomEvent("wz:changed"));
      }).catch(function (error) {
        showUnlock(prefs.unlock_with);
        $("unlock-step").hidden = false;
        $("unlock-result").className = "bad";
        $("unlock-result").textContent = error.code + ": " + (error.message || "");
      });
  };
  $("unlock").onclick = function () {
    $("unlock-result").className = "";
    $("unlock-result").textContent = "touch the sensor…";
    call("POST", "/api/v1/me/unlock/challenge").then(function (issued) {
      return call("POST", "/simulator/api/soter/authenticate",
        { challenge: issued.challenge, authMode: "fingerPrint" });
    }).then(function (soter) {
      return call("POST", "/api/v1/me/unlock", soter);
    }).then(function (unlocked) {
      $("unlock-result").className = "good";
      $("unlock-result").textContent = "Unlocked (" + unlocked.method + ", amr " + unlocked.amr +
        ") until " + unlocked.unlocked_until.slice(11, 19) + " UTC: open the pass now";
      document.dispatchEvent(new CustomEvent("wz:changed"));
    }).catch(function (error) {
      $("unlock-result").className = "bad";
      $("unlock-result").textContent = error.code + ": " + (error.message || "");
    });
  };
  new MutationObserver(function () {
    if (!$("s-pass").hidden && state.token) { loadPreferences(); }
  }).observe($("s-pass"), { attributes: true, attributeFilter: ["hidden"] });

  call("GET", "/simulator/api/people").then(showPeople)
    .catch(function (error) { $("people").textContent = "unavailable: " + error.code; });
})();
