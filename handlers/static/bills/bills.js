// The simulator's bills page: list my bills, pay one (the emulator plays the user confirming
// WeChat Pay's sheet), download the receipt. The access token stays in sessionStorage.
(function () {
  "use strict";
  var KEY = "wangzheng.access_token";
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("access_token")) {
    sessionStorage.setItem(KEY, fragment.get("access_token"));
    history.replaceState(null, "", window.location.pathname);
  }
  var token = sessionStorage.getItem(KEY);
  var statusEl = document.getElementById("status");

  function call(method, path) {
    return fetch(path, {
      method: method,
      headers: { "Authorization": "Bearer " + token, "Accept": "application/json" },
    });
  }

  function api(method, path) {
    return call(method, path).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw body.error || { code: "http_" + response.status }; }
        return body;
      });
    });
  }

  function say(text, bad) {
    statusEl.className = bad ? "status-bad" : "meta";
    statusEl.textContent = text;
  }

  function yuan(fen) { return "¥" + Math.floor(fen / 100) + "." + String(fen % 100).padStart(2, "0"); }

  function pay(bill) {
    say("下单中 creating the order…");
    api("POST", "/api/v1/me/bills/" + bill.id + "/pay").then(function (order) {
      say("wx.requestPayment(" + order.payment.package + ") · 确认支付 " + yuan(order.amount_fen));
      return api("POST", "/simulator/api/wechat-pay/" + order.out_trade_no + "/confirm");
    }).then(function () {
      say("支付成功 paid");
      load();
    }).catch(function (error) { say((error.code || "error") + ": " + (error.message || ""), true); });
  }

  function receipt(bill) {
    call("GET", "/api/v1/me/bills/" + bill.id + "/receipt").then(function (response) {
      if (!response.ok) { throw { code: "http_" + response.status }; }
      return response.blob();
    }).then(function (blob) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "receipt-" + bill.id + ".pdf";
      link.click();
    }).catch(function (error) { say(error.code || "error", true); });
  }

  function load() {
    return api("GET", "/api/v1/me/bills").then(function (body) {
      var list = document.getElementById("bills");
      list.textContent = "";
      body.bills.forEach(function (bill) {
        var item = document.createElement("li");
        var text = document.createElement("span");
        text.textContent = bill.item_name + " · " + bill.agency + " · 截止 " + bill.due_on + " ";
        var amount = document.createElement("span");
        amount.className = "amount";
        amount.textContent = yuan(bill.amount_fen);
        var state = document.createElement("span");
        state.className = bill.status;
        state.textContent = " " + bill.status + (bill.level_required === "upgraded" ? " · 需升级版" : "");
        item.append(text, amount, state);
        var button = document.createElement("button");
        button.type = "button";
        if (bill.status === "open") {
          button.textContent = "支付 Pay";
          button.addEventListener("click", function () { pay(bill); });
        } else {
          button.textContent = "回执 Receipt (PDF)";
          button.addEventListener("click", function () { receipt(bill); });
        }
        item.appendChild(button);
        list.appendChild(item);
      });
      if (!list.children.length) { list.innerHTML = "<li>没有账单 no bills</li>"; }
    }).catch(function (error) { say((error.code || "error") + ": " + (error.message || ""), true); });
  }

  if (!token) { say("请先在模拟器登录 Log in in the simulator first", true); return; }
  load();
})();
