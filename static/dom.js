// The only way this page builds DOM. Children that are not nodes become text nodes and attribute
// values go through setAttribute, so a publisher's string can never become markup: there is no
// innerHTML anywhere in the page.

/**
 * h('a', {href: '#/', class: 'link'}, 'text', child, [more, children]).
 * Props: `class`, `dataset` (object), `on<event>` (function), anything else an attribute
 * (true = present, null/false/undefined = absent).
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') {
      element.className = value;
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'style' || name.startsWith('on') || name === 'innerHTML') {
      throw new Error(`h(): refusing to set "${name}" from a value`);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces all children of `parent`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}
