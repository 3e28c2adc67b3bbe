// One line of GET /api/v1/me/history as text, for the pass page and the simulator.
// Everything is set with textContent by the callers: nothing from the API becomes markup.
(function () {
  "use strict";
  var REASONS = {
    deleted_by_holder: "删除 deleted by you",
    device_changed: "换机 signed in on another phone",
    id_card_reported_lost: "挂失 ID card reported lost",
    disputed: "申诉 disputed (not me)",
    password_reset: "重置密码 password reset",
    citizen_request: "本人申请 your request",
    reported_stolen: "被盗 reported stolen",
  };
  var ACTORS = { citizen: "by you", authority: "by the authority" };

  function shortId(id) { return id ? "…" + id.slice(-6) : ""; }

  function text(entry) {
    switch (entry.kind) {
      case "credential_issued": {
        var line = "网证签发 Credential issued (" + entry.level + ") " + shortId(entry.credential_id);
        if (entry.superseded && entry.superseded.length) {
          line += " · replaced " + entry.superseded.map(function (s) {
            return shortId(s.credential_id);
          }).join(", ");
        }
        if (entry.superseded_other_account) { line += " · replaced the one on another account"; }
        return line;
      }
      case "credential_ended":
        return "网证终止 Credential ended " + shortId(entry.credential_id) + ": " +
          (REASONS[entry.reason] || entry.reason);
      case "credential_taken_over":
        return "网证转移 Moved to another account, on " + (entry.other_device_model || "an unknown phone");
      case "device_changed":
        return "更换设备 Device changed: " + (entry.previous_device_model || "?") + " → " +
          (entry.device_model || "?");
      case "unlock_enabled":
        return "生物解锁开启 Biometric unlock on (" + entry.method + ")";
      case "unlock_disabled":
        return "生物解锁关闭 Biometric unlock off (" + entry.method + ")";
      case "unlock_verified":
        return "解锁 Unlocked with " + entry.method;
      case "card_reported_lost":
        return "身份证挂失 ID card reported lost " + (ACTORS[entry.actor] || "") +
          (entry.newly_reported === false ? " (already reported: nothing changed)" : "") +
          (entry.credentials_ended ? " · " + entry.credentials_ended + " credential(s) ended" : "");
      case "verification":
        return "核验 Verified by " + entry.merchant + " · " + entry.result +
          (entry.reason ? " (" + entry.reason + ")" : "") +
          (entry.disclosed && entry.disclosed.length ? " · disclosed " + entry.disclosed.join(", ") : "");
      default:
        return entry.kind;
    }
  }

  // Fill <ul> ``list`` with the entries (append when ``append``), newest first as given.
  function render(list, entries, append) {
    if (!append) { list.textContent = ""; }
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      item.className = "h-" + entry.kind;
      item.dataset.kind = entry.kind;
      var when = document.createElement("span");
      when.className = "h-when";
      when.textContent = entry.at.slice(0, 19).replace("T", " ") + " UTC";
      var what = document.createElement("span");
      what.className = "h-what";
      what.textContent = text(entry);
      item.appendChild(when);
      item.appendChild(what);
      if (entry.device_model) {
        var device = document.createElement("span");
        device.className = "h-device";
        device.textContent = "设备 device: " + entry.device_model;
        item.appendChild(device);
      }
      list.appendChild(item);
    });
    if (!list.children.length) {
      var empty = document.createElement("li");
      empty.textContent = "— 暂无记录 nothing yet";
      list.appendChild(empty);
    }
  }

  window.WangzhengHistory = { text: text, render: render };
})();
