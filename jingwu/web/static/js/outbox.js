// The terminal's outbox: every officer action is stored on the device first (localStorage, with a
// client id) and sent in order; without network it waits and is replayed on reconnect.
//
// Replays are idempotent: an action is removed from the outbox only once the server has answered it.
// If an answer was lost and the action is sent again, a status the unit already has comes back as a
// refusal (422/409), which means "already done"; positions carry their ``at`` so the server ignores
// an older fix. Each request also carries the action's id as ``Idempotency-Key``.

import { token } from "./core.js";

const RETRY_MS = 5000;

export class Outbox {
  constructor(owner, { onChange = () => {}, onRejected = () => {}, onDone = () => {} } = {}) {
    this.key = `jingwu.outbox.${owner}`;
    this.items = JSON.parse(localStorage.getItem(this.key) || "[]");
    this.onChange = onChange;
    this.onRejected = onRejected;
    this.onDone = onDone;
    this.flushing = null;
    this.sent = 0;
    window.addEventListener("online", () => this.flush());
    setInterval(() => { if (this.items.length) this.flush(); }, RETRY_MS);
  }

  save() {
    localStorage.setItem(this.key, JSON.stringify(this.items));
    this.onChange(this.items);
  }

  // kind: "status" | "position" | "report"; a newer position replaces a queued one not yet sent.
  add(kind, url, body) {
    const item = { id: crypto.randomUUID(), kind, url, body, queued_at: new Date().toISOString() };
    const last = this.items[this.items.length - 1];
    if (kind === "position" && last && last.kind === "position" && this.items.length > 1) this.items[this.items.length - 1] = item;
    else this.items.push(item);
    this.save();
    this.flush();
    return item;
  }

  flush() {
    if (!this.flushing) this.flushing = this.drain().finally(() => { this.flushing = null; });
    return this.flushing;
  }

  async drain() {
    while (this.items.length) {
      const item = this.items[0];
      let response;
      try {
        response = await fetch(item.url, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Requested-With": "jingwu", ...(token() ? { Authorization: `Bearer ${token()}` } : {}), "Idempotency-Key": item.id },
          body: JSON.stringify(item.body),
        });
      } catch {
        return; // no network: keep everything, try again on reconnect
      }
      if (response.status === 401 || response.status >= 500 || response.status === 429) return;
      if (!response.ok) {
        let detail = null;
        try { detail = (await response.json()).detail; } catch { /* no body */ }
        this.onRejected(item, response.status, detail);
      } else {
        this.sent += 1;
        this.onDone(item);
      }
      this.items.shift();
      this.save();
    }
  }
}
