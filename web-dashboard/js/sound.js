// Alert sound (a WebAudio beep: no sound file to load) and desktop
// notifications. Browsers allow sound only after the user has interacted
// with the page, so the page offers a button when it is not yet allowed.

let ctx = null;

function audio() {
  if (!ctx) {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    ctx = new AC();
  }
  return ctx;
}

/** soundAllowed reports whether a beep will be heard. */
export function soundAllowed() {
  return Boolean(ctx) && ctx.state === 'running';
}

/** enableSound starts audio; call it from a click or key handler. */
export async function enableSound() {
  const a = audio();
  if (a && a.state !== 'running') {
    try { await a.resume(); } catch { /* not allowed yet */ }
  }
  return soundAllowed();
}

/**
 * beep plays a short tone: urgent alerts three rising ones, others two.
 * It does nothing while sound is not allowed.
 */
export function beep(urgent = false) {
  const a = audio();
  if (!a || a.state !== 'running') return;
  const tones = urgent ? [880, 988, 1175] : [660, 880];
  let at = a.currentTime;
  for (const f of tones) {
    const osc = a.createOscillator();
    const gain = a.createGain();
    osc.type = 'sine';
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
    osc.connect(gain).connect(a.destination);
    osc.start(at);
    osc.stop(at + 0.2);
    at += 0.22;
  }
}

/** notifyState returns 'granted', 'denied', 'default' or 'unsupported'. */
export function notifyState() {
  return 'Notification' in window ? Notification.permission : 'unsupported';
}

/** askNotify asks the browser for permission to notify (from a click). */
export async function askNotify() {
  if (!('Notification' in window)) return 'unsupported';
  try { return await Notification.requestPermission(); } catch { return Notification.permission; }
}

/** notify shows a desktop notification when allowed and the page is not in view. */
export function notify(title, body, tag) {
  if (notifyState() !== 'granted' || document.visibilityState === 'visible') return;
  try {
    const n = new Notification(title, { body, tag, renotify: true });
    n.onclick = () => { window.focus(); n.close(); };
  } catch { /* some browsers only notify from a service worker */ }
}

// The first interaction anywhere on the page allows sound.
for (const ev of ['pointerdown', 'keydown']) {
  window.addEventListener(ev, () => { enableSound(); }, { once: true, capture: true });
}
