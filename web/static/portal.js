// The portal's settings: browser call notifications ask for the Notification permission at the
// moment the agent turns them on, and the choice is saved at once (the Save button is for no-JS).
(function () {
  "use strict";
  var toggle = document.querySelector("[data-notifications-toggle]");
  if (!toggle) { return; }
  var form = toggle.form;
  var status = form.querySelector("[data-notifications-status]");
  var save = form.querySelector("[data-notifications-save]");
  if (save) { save.remove(); }  // saved at once instead

  function say(text) { if (status) { status.textContent = text; } }

  function submit() {
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  toggle.addEventListener("change", function () {
    if (!toggle.checked) { submit(); return; }
    if (!("Notification" in window)) {
      toggle.checked = false;
      say("This browser cannot show notifications.");
      return;
    }
    if (Notification.permission === "granted") { submit(); return; }
    Notification.requestPermission().then(function (answer) {
      if (answer === "granted") {
        submit();
      } else {
        toggle.checked = false;
        say("Notifications are blocked for this site: allow them in the browser's site settings, then turn this on again.");
      }
    });
  });
})();
