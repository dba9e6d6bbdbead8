// Small behaviours shared by every page: dark mode, the menus (navigation groups and ⋯ row actions),
// confirm prompts, repeatable rows and the live updates.
(function () {
  "use strict";

  // --- dark mode -------------------------------------------------------------------------------
  function showTheme() {
    var dark = document.documentElement.dataset.theme === "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-pressed", dark ? "true" : "false");
    });
  }
  showTheme();

  // --- menus -----------------------------------------------------------------------------------
  // [data-menu] holds a [data-menu-button] and a [data-menu-panel]. Enter, Space or ArrowDown on the
  // button opens it and focuses the first item; arrows, Home and End move; Escape closes and gives
  // the focus back; Tab, an outside click, scrolling or resizing close it. Row menus (.menu-wrap)
  // are positioned fixed next to their button, so they overlay the page and never move its layout.
  var openMenu = null;

  function items(menu) {
    return Array.prototype.slice.call(menu.querySelectorAll("[data-menu-panel] a, [data-menu-panel] button"));
  }

  function place(menu) {
    var panel = menu.querySelector("[data-menu-panel]");
    if (!menu.classList.contains("menu-wrap")) { return; }
    var button = menu.querySelector("[data-menu-button]").getBoundingClientRect();
    panel.style.visibility = "hidden";
    var width = panel.offsetWidth, height = panel.offsetHeight;
    var left = Math.max(8, Math.min(button.right - width, window.innerWidth - width - 8));
    var top = button.bottom + 4;
    if (top + height > window.innerHeight - 8 && button.top - height - 4 > 8) { top = button.top - height - 4; }
    panel.style.left = left + "px";
    panel.style.top = top + "px";
    panel.style.visibility = "";
  }

  function open(menu, focusIndex) {
    if (openMenu && openMenu !== menu) { close(openMenu, false); }
    var panel = menu.querySelector("[data-menu-panel]");
    panel.hidden = false;
    menu.querySelector("[data-menu-button]").setAttribute("aria-expanded", "true");
    place(menu);
    openMenu = menu;
    if (focusIndex !== undefined) {
      var list = items(menu);
      if (list.length) { list[(focusIndex + list.length) % list.length].focus(); }
    }
  }

  function close(menu, giveFocusBack) {
    var panel = menu.querySelector("[data-menu-panel]");
    panel.hidden = true;
    var button = menu.querySelector("[data-menu-button]");
    button.setAttribute("aria-expanded", "false");
    if (openMenu === menu) { openMenu = null; }
    if (giveFocusBack) { button.focus(); }
  }

  document.addEventListener("keydown", function (event) {
    var button = event.target.closest("[data-menu-button]");
    if (button) {
      var menu = button.closest("[data-menu]");
      if (event.key === "ArrowDown" || event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open(menu, 0);
        return;
      }
      if (event.key === "ArrowUp") {
        event.preventDefault();
        open(menu, -1);
        return;
      }
      if (event.key === "Escape" && openMenu === menu) {
        close(menu, true);
      }
      return;
    }
    if (!openMenu || !openMenu.contains(event.target)) { return; }
    var list = items(openMenu);
    var index = list.indexOf(document.activeElement);
    if (event.key === "ArrowDown") { event.preventDefault(); list[(index + 1) % list.length].focus(); }
    else if (event.key === "ArrowUp") { event.preventDefault(); list[(index - 1 + list.length) % list.length].focus(); }
    else if (event.key === "Home") { event.preventDefault(); list[0].focus(); }
    else if (event.key === "End") { event.preventDefault(); list[list.length - 1].focus(); }
    else if (event.key === "Escape") { event.preventDefault(); close(openMenu, true); }
    else if (event.key === "Tab") { close(openMenu, false); }
  });

  function closeOnMove(event) {
    // A fixed row menu must not float away from its button; the navigation menus stay.
    if (openMenu && openMenu.classList.contains("menu-wrap") && !(event.target instanceof Node && openMenu.contains(event.target))) {
      close(openMenu, false);
    }
  }
  window.addEventListener("scroll", closeOnMove, true);
  window.addEventListener("resize", closeOnMove);

  document.addEventListener("click", function (event) {
    var menuButton = event.target.closest("[data-menu-button]");
    if (menuButton) {
      var menu = menuButton.closest("[data-menu]");
      if (openMenu === menu) { close(menu, false); } else { open(menu); }
    } else if (openMenu && !openMenu.contains(event.target)) {
      close(openMenu, false);
    }

    var theme = event.target.closest("[data-theme-toggle]");
    if (theme) {
      var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("theme", next);
      showTheme();
    }
    var navToggle = event.target.closest("[data-toggle-nav]");
    if (navToggle) {
      var opened = document.getElementById("nav").classList.toggle("open");
      navToggle.setAttribute("aria-expanded", opened ? "true" : "false");
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

  // --- live updates over Server-Sent Events ----------------------------------------------------
  // Presence dots ([data-presence-user="ID"]) change in place; a region marked
  // [data-live-refresh="activity presence ..."] reloads itself (htmx) when such a message arrives.
  // The states' words in the page's language (base.html), else the state's own name.
  var presenceWords = JSON.parse(document.body.dataset.presenceWords || "{}");
  function presenceText(state) { return presenceWords[state] || state.replace("_", " "); }
  // A node's "listener connected" badge ([data-listener-node]) holds for the heartbeat's
  // time-to-live after its latest beat; with no beat in that time it reads "not connected".
  var listenerTimers = {};
  function showListener(badge, connected) {
    badge.dataset.connected = connected ? "yes" : "no";
    badge.className = "badge listener " + (connected ? "ok" : "failed");
    badge.textContent = connected ? "listener connected" : "listener not connected";
  }
  function armListener(node, connected, seconds) {
    clearTimeout(listenerTimers[node]);
    document.querySelectorAll("[data-listener-node]").forEach(function (badge) {
      if (badge.dataset.listenerNode === node) { showListener(badge, connected); }
    });
    if (connected) {
      listenerTimers[node] = setTimeout(function () { armListener(node, false, 0); }, seconds * 1000);
    }
  }
  function armListeners() {
    document.querySelectorAll("[data-listener-node]").forEach(function (badge) {
      armListener(badge.dataset.listenerNode, badge.dataset.connected === "yes", Number(badge.dataset.expiresIn || 0));
    });
  }
  armListeners();
  document.addEventListener("htmx:afterSwap", armListeners);
  // A region is not reloaded under the fingers of someone typing in it (the transfer target):
  // it is reloaded once the focus leaves it.
  function typingIn(region) {
    var focused = document.activeElement;
    return focused && region.contains(focused) &&
      (focused.matches("input[type=text], select, textarea") || Boolean(focused.closest("details[open]")));
  }
  document.addEventListener("focusout", function (event) {
    var region = event.target.closest && event.target.closest("[data-live-stale]");
    if (!region) { return; }
    setTimeout(function () {
      if (typingIn(region) || !window.htmx) { return; }
      delete region.dataset.liveStale;
      var url = region.dataset.liveUrl || window.location.href;
      window.htmx.ajax("GET", url, {target: "#" + region.id, select: "#" + region.id, swap: "outerHTML"});
    }, 0);
  });
  var hook = document.querySelector("[data-live-events]");
  if ((hook || document.querySelector("[data-presence-user]")) && window.EventSource) {
    var source = new EventSource(hook ? hook.dataset.liveEvents : "/live/events");
    var timers = {};
    source.onmessage = function (event) {
      var message = JSON.parse(event.data);
      // Other scripts (the portal's call notifications) follow the same stream.
      document.dispatchEvent(new CustomEvent("live:message", {detail: message}));
      if (message.type === "presence") {
        document.querySelectorAll('[data-presence-user="' + message.user_id + '"]').forEach(function (dot) {
          dot.className = "dot dot-" + message.state;
          dot.dataset.presence = message.state;
          dot.title = presenceText(message.state);
          var text = dot.querySelector(".sr-only");
          if (text) { text.textContent = presenceText(message.state); }
        });
      }
      if (message.type === "listener") {
        armListener(message.node, message.connected, message.ttl);
      }
      if (!window.htmx) { return; }
      document.querySelectorAll("[data-live-refresh]").forEach(function (region) {
        if (region.dataset.liveRefresh.split(" ").indexOf(message.type) < 0 || timers[region.id]) { return; }
        if (openMenu && region.contains(openMenu)) { return; }  // never pull a menu away from the keyboard
        if (typingIn(region)) { region.dataset.liveStale = "1"; return; }
        timers[region.id] = setTimeout(function () {  // a burst of messages, one reload
          timers[region.id] = null;
          var url = region.dataset.liveUrl || window.location.href;
          window.htmx.ajax("GET", url, {target: "#" + region.id, select: "#" + region.id, swap: "outerHTML"});
        }, 200);
      });
    };
  }
  document.addEventListener("htmx:afterSwap", showTheme);

  document.addEventListener("submit", function (event) {
    var message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
