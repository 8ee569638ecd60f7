// The live connection: a WebSocket to /ws that follows the event log. It
// keeps the seq of the last event received and, after any drop (network,
// server restart, laptop sleep), reconnects with ?after=<that seq>, so that
// the server replays exactly what was missed. Events at or below the last
// seq are duplicates and are dropped; a hub.reset message (the server cannot
// replay that far, or its log is behind) asks the page to reload its state
// from the REST API.

const maxBackoff = 10000;

export class Live {
  /**
   * @param {object} o
   * @param {(msg: object) => void} o.onEvent every new message (events with seq > 0, and ephemeral ones with seq 0)
   * @param {(head: number) => Promise<void>} o.onResync loads the state from the REST API
   * @param {(status: object) => void} o.onStatus connection status changes
   * @param {() => Promise<boolean>} o.stillSignedIn checks the session after a failed connect
   */
  constructor(o) {
    this.o = o;
    this.lastSeq = -1; // unknown until the first hub.welcome
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.duplicates = 0;
    this.lastTick = Date.now();
    this.state = 'connecting';
    this.resyncing = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.setStatus('offline');
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    // A laptop that slept, or a tab the browser froze, shows as a jump of
    // the clock: the socket may look open while it is dead, so reconnect.
    this.sleepCheck = setInterval(() => {
      const now = Date.now();
      if (now - this.lastTick > 15000) this.reconnectNow();
      this.lastTick = now;
    }, 5000);
  }

  start() { this.connect(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.sleepCheck);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.ws) this.ws.close(1000, 'signed out');
  }

  setStatus(state, extra = {}) {
    this.state = state;
    this.o.onStatus({ state, lastSeq: this.lastSeq, ...extra });
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = this.lastSeq >= 0 ? `?after=${this.lastSeq}` : '';
    const ws = new WebSocket(`${proto}//${location.host}/ws${q}`);
    this.ws = ws;
    let welcomed = false;
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting', { retryIn: 0 });
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'hub.welcome') {
        welcomed = true;
        this.attempt = 0;
        this.welcome(msg.data);
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return; // replaced by a newer connection
      this.ws = null;
      if (this.stopped) return;
      if (!welcomed) this.attempt++;
      // 4001: the session's connection lifetime ended; reconnect at once,
      // which checks the session again.
      if (ev.code === 4001 && welcomed) { this.connect(); return; }
      this.scheduleReconnect(welcomed);
    };
  }

  async scheduleReconnect(wasLive) {
    if (!wasLive && this.attempt >= 2 && this.o.stillSignedIn) {
      // The upgrade keeps failing: the session may have ended.
      try {
        if (!(await this.o.stillSignedIn())) { this.stop(); return; }
      } catch { /* the server is down: keep trying */ }
    }
    const base = Math.min(maxBackoff, 500 * 2 ** Math.min(this.attempt, 5));
    const delay = wasLive ? 300 : base / 2 + Math.random() * (base / 2);
    if (!navigator.onLine) this.setStatus('offline');
    else this.setStatus('reconnecting', { retryIn: Math.ceil(delay / 1000) });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(4000, 'reconnecting');
    }
    this.connect();
  }

  async welcome(data) {
    if (this.lastSeq < 0) {
      // First connection: live from the server's head; load the state.
      this.lastSeq = data.head;
      this.firstHead = data.head;
      await this.resync(data.head);
    }
    this.setStatus('live', { node: data.node });
  }

  async resync(from) {
    this.resyncs = (this.resyncs || 0) + 1;
    this.resyncing = true;
    this.setStatus('resync');
    try {
      await this.o.onResync(from);
    } finally {
      this.resyncing = false;
      if (this.ws) this.setStatus('live');
    }
  }

  handle(msg) {
    if (msg.seq > 0) {
      if (msg.seq <= this.lastSeq) { this.duplicates++; return; }
      this.lastSeq = msg.seq;
    }
    if (msg.type === 'hub.reset') {
      // The missed events cannot be replayed: reload the state, continue
      // after the seq the server says.
      this.lastSeq = msg.data.from;
      this.resync(msg.data.from);
      return;
    }
    this.o.onEvent(msg);
  }
}
