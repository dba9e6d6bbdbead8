// Small behaviours shared by every page: dark mode, the mobile menu, confirm prompts, repeatable rows.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var theme = event.target.closest("[data-theme-toggle]");
    if (theme) {
      var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("theme", next);
    }
    if (event.target.closest("[data-toggle-nav]")) {
      document.getElementById("nav").classList.toggle("open");
    }
    var add = event.target.closest("[data-add-row]");
    if (add) {
      var rows = document.getElementById(add.dataset.addRow);
      var template = document.getElementById(add.dataset.addRow + "-template");
      // Never reuse an index still on the page (rows can be removed in between).
      var index = Math.max(Number(rows.dataset.nextIndex || 0), rows.querySelectorAll(".row").length);
      rows.dataset.nextIndex = String(index + 1);
      rows.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__index__/g, String(index)));
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      remove.closest(".row").remove();
    }
  });
  // Live updates over Server-Sent Events: presence dots ([data-presence-user="ID"]) change in place;
  // an activity list ([data-live-refresh="activity"]) reloads itself when an item is added.
  var hook = document.querySelector("[data-live-events]");
  if ((hook || document.querySelector("[data-presence-user]")) && window.EventSource) {
    var source = new EventSource(hook ? hook.dataset.liveEvents : "/live/events");
    var refreshTimer = null;
    source.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "presence") {
        document.querySelectorAll('[data-presence-user="' + message.user_id + '"]').forEach(function (dot) {
          dot.className = "dot dot-" + message.state;
          dot.dataset.presence = message.state;
          dot.title = message.state.replace("_", " ");
        });
      } else if (message.type === "activity" && window.htmx) {
        var list = document.querySelector('[data-live-refresh="activity"]');
        if (!list || refreshTimer) { return; }
        refreshTimer = setTimeout(function () {  // a burst of items, one reload
          refreshTimer = null;
          window.htmx.ajax("GET", window.location.href, {target: "#" + list.id, select: "#" + list.id, swap: "outerHTML"});
        }, 200);
      }
    };
  }
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
