// A keyboard-first combobox: type to search, ↑ ↓ to move, Enter or Tab to pick, Esc to close.
// ``search`` may be async; only the answer to the latest query is shown.

import { el } from "./core.js";

export function combo(input, list, { search, label, pick, delay = 0, onType = () => {} }) {
  let items = [];
  let active = 0;
  let seq = 0;
  let timer = null;

  function render() {
    list.replaceChildren(...items.map((item, i) => el("li", {
      role: "option", id: `${list.id}-${i}`, "aria-selected": i === active ? "true" : "false", text: label(item),
      onmousedown: (e) => { e.preventDefault(); choose(i); },
    })));
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", items.length ? "true" : "false");
    if (items.length) {
      input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
      list.children[active]?.scrollIntoView({ block: "nearest" });
    }
  }

  async function update() {
    const mine = ++seq;
    const found = await search(input.value);
    if (mine !== seq) return;
    items = found.slice(0, 30);
    active = 0;
    render();
  }

  function choose(i) {
    const item = items[i];
    close();
    if (item) pick(item);
  }

  function close() {
    seq += 1;
    items = [];
    render();
  }

  let pending = Promise.resolve();
  input.addEventListener("input", () => {
    onType();
    clearTimeout(timer);
    pending = new Promise((resolve) => { timer = setTimeout(() => update().then(resolve, resolve), delay); });
  });
  input.addEventListener("focus", () => { if (!input.value) update(); });
  input.addEventListener("blur", () => setTimeout(close, 150));
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!items.length) return update();
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      render();
    } else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      // Enter picks the first answer to what was typed (waiting for it if the search is still running);
      // it never submits the call by accident.
      e.preventDefault();
      pending.then(() => { if (items.length) choose(active); });
    } else if (e.key === "Tab" && items.length && input.value) {
      choose(active);
    } else if (e.key === "Escape") {
      close();
    }
  });
  return { close, update };
}
