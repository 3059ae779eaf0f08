// DOM helpers. Board data (citizen text included) only ever reaches the page through
// textContent and attributes set here: never innerHTML, never markup built from data.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Create an element.
 * @param {string} tag
 * @param {{class?: string, text?: string|number|null, attrs?: Object<string,string>, title?: string}} [opts]
 * @param {...(Node|null|undefined|false)} children
 */
export function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.class) node.className = opts.class;
  if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
  if (opts.title) node.title = opts.title;
  if (opts.attrs) {
    for (const [name, value] of Object.entries(opts.attrs)) {
      if (name.toLowerCase().startsWith("on")) throw new Error("event handler attributes are not allowed");
      node.setAttribute(name, value);
    }
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** Create an SVG element (attributes only, no markup). */
export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** Set the text of an element only when it changed (keeps the page calm). */
export function setText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Toggle a class. */
export function flag(node, name, on) {
  node.classList.toggle(name, Boolean(on));
}

/** Replace every child of `node`. */
export function fill(node, children) {
  node.replaceChildren(...children.filter(Boolean));
}

/** `document.getElementById` that fails loudly. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}
