// Live figures for the console's sends pages. The page names its JSON in
// <body data-live>; every 1.5 s while a send is running (5 s otherwise) the figures are
// written in place. A send whose state changed, or one the page does not show yet, reloads
// the page so its buttons are right. Without this script the pages work; they are not live.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-live");
  if (!url) { return; }
  var FAST = 1500, SLOW = 5000;

  function put(root, selector, value) {
    var node = root.querySelector(selector);
    if (node && node.textContent !== String(value)) { node.textContent = value; }
  }

  function apply(send) {
    var root = document.querySelector('[data-send="' + send.id + '"]');
    if (!root || root.getAttribute("data-state") !== send.state) { return false; }
    ["state_label", "sent", "total", "percent", "rate", "average_rate", "eta", "started",
     "finished", "bounce_rate", "complaint_rate"].forEach(function (field) {
      put(root, '[data-field="' + field + '"]', send[field]);
    });
    Object.keys(send.counts).forEach(function (state) {
      put(root, '[data-count="' + state + '"]', send.counts[state]);
    });
    var bar = root.querySelector("progress");
    if (bar) { bar.max = send.total || 1; bar.value = send.sent; }
    return true;
  }

  function later(delay) { window.setTimeout(poll, delay); }

  function poll() {
    if (document.hidden) { later(SLOW); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store",
                 headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        var stale = false, running = false;
        data.sends.forEach(function (send) {
          if (!apply(send)) { stale = true; }
          if (send.state === "sending") { running = true; }
        });
        if (stale) { window.location.reload(); return; }
        later(running ? FAST : SLOW);
      })
      .catch(function () { later(SLOW); });
  }

  later(FAST);
}());
