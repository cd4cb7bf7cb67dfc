// Follows a running run: the tier in progress and the last progress line, every 2 s; reloads the
// page once the run has ended. Text only (textContent), never markup.
(function () {
  var box = document.getElementById("live");
  if (!box) { return; }
  var url = box.getAttribute("data-live");
  function show(id, text) { var node = document.getElementById(id); if (node) { node.textContent = text; } }
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.state !== "running" && data.state !== "queued") { window.location.reload(); return; }
        show("live-state", data.state);
        show("live-tier", data.tier || data.phase || "—");
        show("live-line", data.last_line || "");
        var ended = data.tiers || {};
        show("live-ended", Object.keys(ended).map(function (op) { return op + " " + ended[op]; }).join(" · ") || "—");
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
}());
