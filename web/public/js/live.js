// Live events over the WebSocket /v1/ws (docs/API.md): first-message auth with {token, after},
// reconnects with back-off and resumes from the last seen sequence number, so nothing is missed.

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

export class Live {
  /**
   * @param {object} o
   * @param {() => ({handle, token} | null)} o.session
   * @param {(handle) => number} o.getSeq  @param {(handle, seq) => void} o.setSeq
   * @param {(event) => void} o.onEvent   @param {(state) => void} o.onState  @param {() => void} o.onAuthFailed
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000, "bye");
    }
    this.o.onState("closed");
  }

  /** Reconnect now (for example when the browser says it is online again). */
  kick() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    const s = this.o.session();
    if (this.stopped || !s || !navigator.onLine) return;
    const url = new URL("/v1/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ token: s.token, after: this.o.getSeq(s.handle) }));
      this.attempt = 0;
      this.o.onState("open");
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (!ev || !Number.isSafeInteger(ev.seq)) return;
      if (ev.seq > this.o.getSeq(s.handle)) this.o.setSeq(s.handle, ev.seq);
      this.o.onEvent(ev);
    };
    ws.onclose = (e) => {
      if (this.ws === ws) this.ws = null;
      this.o.onState("closed");
      if (e.code === 4401) { this.o.onAuthFailed(); return; }
      // Too many live connections for this account (other tabs or devices): the socket was
      // opened and refused, so do not start the back-off again from 1 s; wait the longest step.
      if (e.code === 4429) this.attempt = BACKOFF_MS.length - 1;
      this.schedule();
    };
  }

  schedule() {
    if (this.stopped) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
