// Coalesces the changes of many events into one DOM update per animation frame, so a burst of
// events costs one layout; announces each update (``jingwu:rendered``) for the browser benchmark.

const FALLBACK_MS = 100; // hidden tabs get no animation frames; still update them

export class Renderer {
  constructor(render) {
    this.render = render;
    this.pending = null;
    this.scheduled = false;
  }

  push(change) {
    if (!this.pending) this.pending = { incidents: new Set(), units: new Set(), created: new Set(), reset: false };
    const p = this.pending;
    if (change.reset) p.reset = true;
    for (const id of change.incidents || []) p.incidents.add(id);
    for (const id of change.units || []) p.units.add(id);
    for (const id of change.created || []) p.created.add(id);
    if (this.scheduled) return;
    this.scheduled = true;
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      this.flush();
    };
    requestAnimationFrame(run);
    setTimeout(run, FALLBACK_MS);
  }

  flush() {
    this.scheduled = false;
    const change = this.pending;
    this.pending = null;
    if (!change) return;
    const began = performance.now();
    this.render(change);
    const ms = performance.now() - began;
    window.dispatchEvent(new CustomEvent("jingwu:rendered", { detail: { incidents: [...change.incidents], units: [...change.units], at: Date.now(), ms } }));
  }
}
