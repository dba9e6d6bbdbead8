// The portal's webphone: the logged-in user's browser registers as their webphone device (SIP
// over WebSocket, WebRTC media) with SIP.js, vendored by `make install`. One call at a time:
// dial by keypad, keyboard, paste or a click on any tel: link; incoming calls ring with a tone
// and, when the user turned them on, a browser notification.
// SIP.js (one bundled module, its versioned URL in data-webphone-sip) is imported only once the
// user turns out to have a webphone (no requests otherwise).
let Invitation, Inviter, Registerer, RegistererState, SessionState, UserAgent;

const panel = document.querySelector("[data-webphone]");
const $ = (name) => panel.querySelector(`[data-wp-${name}]`);
const statusLine = $("status");
const numberField = $("number");
const incoming = $("incoming");
const callBox = $("call");
const muteButton = $("mute");
const holdButton = $("hold");
const audio = $("audio");

let userAgent = null;
let registerer = null;
let session = null;
let timer = null;
let ringer = null;

// The panel's words in the page's language (portal/_webphone.html), with {name} filled in.
const TEXTS = JSON.parse($("texts").textContent);
function text(key, values = {}) {
  return TEXTS[key].replace(/\{(\w+)\}/g, (whole, name) => String(values[name] ?? whole));
}

function say(line, state = "") {
  statusLine.textContent = line;
  statusLine.dataset.state = state;
}

function cleanNumber(text) {
  // What a SIP user part may carry from a pasted number: digits, *, # and a leading +.
  const kept = String(text).replace(/[^0-9*#+]/g, "");
  return kept.charAt(0) + kept.slice(1).replace(/\+/g, "");
}

function peerName(identity) {
  if (!identity) return "";
  return identity.displayName || (identity.uri && identity.uri.user) || "";
}

// --- ring tone: 440 + 480 Hz, 2 s on, 4 s off, made with Web Audio (no file to fetch).
function startRinging() {
  stopRinging();
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  const context = new Context();
  const gain = context.createGain();
  gain.gain.value = 0;
  gain.connect(context.destination);
  for (const frequency of [440, 480]) {
    const oscillator = context.createOscillator();
    oscillator.frequency.value = frequency;
    oscillator.connect(gain);
    oscillator.start();
  }
  const beat = () => {
    const now = context.currentTime;
    gain.gain.setValueAtTime(0.08, now);
    gain.gain.setValueAtTime(0, now + 2);
  };
  beat();
  ringer = { context, interval: setInterval(beat, 6000) };
}

function stopRinging() {
  if (!ringer) return;
  clearInterval(ringer.interval);
  ringer.context.close();
  ringer = null;
}

function notify(caller) {
  if (panel.dataset.webphoneNotify !== "1" || !("Notification" in window)) return;
  if (Notification.permission !== "granted") return;
  // The same tag as portal.js's ringing notification: one notification per call, not two.
  const note = new Notification(text("incoming"), { body: caller, tag: "switchboard-ringing" });
  note.onclick = () => { window.focus(); note.close(); };
}

// --- call state in the panel
function showTimer() {
  const started = Date.now();
  const show = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    $("timer").textContent = `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
  };
  show();
  timer = setInterval(show, 1000);
}

function attachMedia(current) {
  const handler = current.sessionDescriptionHandler;
  if (handler && handler.remoteMediaStream) {
    audio.srcObject = handler.remoteMediaStream;
    audio.play().catch(() => {});
  }
}

function setMuted(muted) {
  muteButton.setAttribute("aria-pressed", muted ? "true" : "false");
  muteButton.textContent = muted ? text("unmute") : text("mute");
  const pc = session && session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
  if (!pc) return;
  for (const sender of pc.getSenders()) {
    if (sender.track) sender.track.enabled = !muted && !held();
  }
}

// Hold: a re-INVITE offering sendonly (inactive when the far end holds too); resume offers
// sendrecv again. The microphone's tracks stop meanwhile, as they would on a desk phone.
function held() {
  return holdButton.getAttribute("aria-pressed") === "true";
}

function showHold(onHold) {
  holdButton.setAttribute("aria-pressed", onHold ? "true" : "false");
  holdButton.textContent = onHold ? text("resume") : text("hold");
}

let holdPending = false;

function setHold(onHold) {
  const current = session;
  if (!current || current.state !== SessionState.Established || holdPending) return;
  const peer = $("peer").textContent;
  // Not disabled while the re-INVITE is out: the button keeps the keyboard focus.
  holdPending = true;
  holdButton.setAttribute("aria-busy", "true");
  current.sessionDescriptionHandlerOptionsReInvite = { ...current.sessionDescriptionHandlerOptionsReInvite, hold: onHold };
  const done = (accepted, reason) => {
    holdPending = false;
    holdButton.removeAttribute("aria-busy");
    if (current !== session) return;
    if (accepted) {
      showHold(onHold);
      const pc = current.sessionDescriptionHandler && current.sessionDescriptionHandler.peerConnection;
      for (const sender of pc ? pc.getSenders() : []) {
        if (sender.track) sender.track.enabled = !onHold && muteButton.getAttribute("aria-pressed") !== "true";
      }
      say(onHold ? text("on_hold", { peer }) : text("in_call", { peer }), "ready");
    } else {
      current.sessionDescriptionHandlerOptionsReInvite = { ...current.sessionDescriptionHandlerOptionsReInvite, hold: !onHold };
      say(text("hold_failed", { reason }), "error");
    }
  };
  current.invite({
    requestDelegate: {
      onAccept: () => done(true),
      onReject: (response) => done(false, `${response.message.statusCode} ${response.message.reasonPhrase}`),
    },
  }).catch((error) => done(false, error.message));
}

function ended(text) {
  stopRinging();
  clearInterval(timer);
  timer = null;
  session = null;
  incoming.hidden = true;
  callBox.hidden = true;
  setMuted(false);
  showHold(false);
  holdPending = false;
  audio.srcObject = null;
  $("dial-button").disabled = !registered();
  say(text, registered() ? "ready" : "error");
}

function track(current, peer) {
  session = current;
  $("peer").textContent = peer;
  $("dial-button").disabled = true;
  current.stateChange.addListener((state) => {
    if (current !== session) return;
    if (state === SessionState.Established) {
      stopRinging();
      incoming.hidden = true;
      callBox.hidden = false;
      attachMedia(current);
      showTimer();
      say(text("in_call", { peer }), "ready");
      $("hangup").focus();
    } else if (state === SessionState.Terminated) {
      ended(text("ended"));
    }
  });
}

function registered() {
  return registerer !== null && registerer.state === RegistererState.Registered;
}

function call(number) {
  const target = cleanNumber(number);
  if (!target) {
    say(text("enter_number"), "error");
    numberField.focus();
    return;
  }
  if (!registered() || session) return;
  const uri = UserAgent.makeURI(`sip:${target}@${userAgent.configuration.uri.host}`);
  const inviter = new Inviter(userAgent, uri, {
    sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
  });
  track(inviter, target);
  callBox.hidden = false;
  say(text("calling", { target }));
  inviter.invite({
    requestDelegate: {
      onProgress: () => say(text("ringing", { target })),
      onReject: (response) => say(text("no_answer", { target, reason: response.message.reasonPhrase }), "error"),
    },
  }).catch((error) => ended(text("failed", { reason: error.message })));
}

function hangUp() {
  if (!session) return;
  const current = session;
  if (current.state === SessionState.Established) {
    current.bye();
  } else if (current instanceof Inviter) {
    current.cancel();
  } else if (current instanceof Invitation) {
    current.reject({ statusCode: 603 });
  }
}

function onInvite(invitation) {
  if (session) {
    invitation.reject({ statusCode: 486 });
    return;
  }
  const caller = peerName(invitation.remoteIdentity);
  track(invitation, caller);
  callBox.hidden = true;
  $("caller").textContent = caller;
  incoming.hidden = false;
  say(text("incoming_from", { caller }));
  startRinging();
  notify(caller);
  $("answer").focus();
}

// --- controls
$("dial").addEventListener("submit", (event) => {
  event.preventDefault();
  call(numberField.value);
});
numberField.addEventListener("input", () => {
  const cleaned = cleanNumber(numberField.value);
  if (cleaned !== numberField.value) numberField.value = cleaned;
});
for (const key of panel.querySelectorAll("[data-wp-key]")) {
  key.addEventListener("click", () => {
    const tone = key.dataset.wpKey;
    if (session && session.state === SessionState.Established) {
      session.sessionDescriptionHandler.sendDtmf(tone);
      say(text("sent_tone", { tone }), "ready");
    } else {
      numberField.value = cleanNumber(numberField.value + tone);
    }
  });
}
$("answer").addEventListener("click", () => {
  if (session instanceof Invitation && session.state === SessionState.Initial) {
    stopRinging();
    session.accept({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
  }
});
$("decline").addEventListener("click", hangUp);
$("hangup").addEventListener("click", hangUp);
muteButton.addEventListener("click", () => setMuted(muteButton.getAttribute("aria-pressed") !== "true"));
holdButton.addEventListener("click", () => setHold(!held()));
// Click-to-call: any tel: link on the page dials through the webphone while it is ready.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="tel:"]');
  if (!link || !registered() || session || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  numberField.value = cleanNumber(decodeURIComponent(link.getAttribute("href").slice(4)));
  call(numberField.value);
});

// For diagnostics and the browser tests: the live call's RTCPeerConnection (getStats).
window.switchboardWebphone = {
  peerConnection: () => (session && session.sessionDescriptionHandler ? session.sessionDescriptionHandler.peerConnection : null),
  registered,
};

async function start() {
  if (!("RTCPeerConnection" in window) || !navigator.mediaDevices) return;  // stays hidden
  let account;
  try {
    const response = await fetch(panel.dataset.webphone, { credentials: "same-origin", headers: { Accept: "application/json" } });
    // 404: no webphone (no PBX node carries one); 403: an admin acting as this user. Nothing to show.
    if (response.status === 404 || response.status === 403) return;
    panel.hidden = false;
    if (!response.ok) throw new Error(String(response.status));
    account = await response.json();
    ({ Invitation, Inviter, Registerer, RegistererState, SessionState, UserAgent } = await import(panel.dataset.webphoneSip));
  } catch (error) {
    panel.hidden = false;
    say(text("no_account"), "error");
    return;
  }
  $("dial-button").disabled = true;
  userAgent = new UserAgent({
    uri: UserAgent.makeURI(account.uri),
    authorizationUsername: account.username,
    authorizationPassword: account.password,
    displayName: account.display_name,
    transportOptions: { server: account.ws_url },
    // The built-in log would print SIP messages, digest challenges included, to the console.
    logBuiltinEnabled: false,
    sessionDescriptionHandlerFactoryOptions: { iceGatheringTimeout: 1000, peerConnectionConfiguration: { iceServers: [] } },
    delegate: {
      onInvite,
      onDisconnect: () => { if (!session) say(text("disconnected"), "error"); reconnect(); },
    },
  });
  registerer = new Registerer(userAgent, { expires: 120 });
  registerer.stateChange.addListener((state) => {
    if (session) return;
    $("dial-button").disabled = state !== RegistererState.Registered;
    if (state === RegistererState.Registered) say(text("ready", { extension: account.extension }), "ready");
    else if (state === RegistererState.Unregistered) say(text("not_registered"), "error");
  });
  try {
    await userAgent.start();
    await registerer.register({
      requestDelegate: { onReject: (response) => say(text("refused", { code: response.message.statusCode, reason: response.message.reasonPhrase }), "error") },
    });
  } catch (error) {
    say(text("unreachable", { url: account.ws_url }), "error");
    reconnect();
  }
}

let retry = 0;
function reconnect() {
  // Capped exponential backoff: 1, 2, 4 ... 30 s.
  const delay = Math.min(30000, 1000 * 2 ** retry);
  retry += 1;
  setTimeout(() => {
    if (!userAgent || userAgent.isConnected()) return;
    userAgent.reconnect().then(() => { retry = 0; return registerer.register(); }).catch(reconnect);
  }, delay);
}

start();
