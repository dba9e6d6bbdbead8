// The portal's browser call notifications: shown when the user's phone rings; in Settings, the
// Notification permission is asked for at the moment the agent turns them on, and the choice is
// saved at once (the Save button is for no-JS). Its words come from the page (translated there).
(function () {
  "use strict";
  // A browser notification when the user's phone starts ringing (their presence turns "ringing"
  // on the live stream), if they turned notifications on and the browser allows them.
  var notify = document.querySelector("[data-call-notify]");
  if (notify) {
    var me = Number(notify.dataset.callNotify);
    document.addEventListener("live:message", function (event) {
      var message = event.detail;
      if (message.type !== "presence" || message.user_id !== me || message.line_state !== "ringing") { return; }
      if (!("Notification" in window) || Notification.permission !== "granted") { return; }
      new Notification(notify.dataset.notifyTitle, {body: notify.dataset.notifyBody, tag: "switchboard-ringing"});
    });
  }

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
      say(form.dataset.noNotifications);
      return;
    }
    if (Notification.permission === "granted") { submit(); return; }
    Notification.requestPermission().then(function (answer) {
      if (answer === "granted") {
        submit();
      } else {
        toggle.checked = false;
        say(form.dataset.notificationsBlocked);
      }
    });
  });
})();
