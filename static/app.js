// The catalog page: one GET of index.json, then everything is local except an image's alias
// history, fetched only when its detail view opens. State lives in the URL hash so
// any view can be shared, survives a reload, and back/forward walk through it:
//   #/?q=<text>&os=<os>&release=<release>&arch=<arch>&page=<n>   the list (every parameter optional)
//   #/image/<fingerprint-or-alias>                                one image
import {
  aliasesOfProduct, buildCatalog, emptyFilter, filterCatalog, findImage, formatBytes, formatCount, formatDate,
  IndexFormatError, parseAliasHistory, shortFingerprint, uniqueLayers,
} from './catalog.js';
import { append, h, replaceChildren } from './dom.js';

const PRODUCTS_PER_PAGE = 20;
const VERSIONS_COLLAPSED = 3;
const VERSIONS_STEP = 100;
const SHARED_WITH_SHOWN = 4;
const OLDER_VERSIONS_SHOWN = 50;
const HISTORY_SHOWN = 10;
const SEARCH_DEBOUNCE_MS = 120;
const FILTER_KEYS = ['q', 'os', 'release', 'arch'];
const FACETS = [
  { key: 'os', all: 'All operating systems' },
  { key: 'release', all: 'All releases' },
  { key: 'arch', all: 'All architectures' },
];

const $ = (id) => document.getElementById(id);
const view = {
  main: $('main'),
  meta: $('registry-meta'),
  stats: $('stats'),
  list: $('list-view'),
  detail: $('detail-view'),
  status: $('status-view'),
  filters: $('filters'),
  search: $('search'),
  clear: $('clear-filters'),
  summary: $('result-summary'),
  results: $('results'),
  pager: $('pager'),
  announcer: $('announcer'),
  selects: Object.fromEntries(FACETS.map(({ key }) => [key, $(`filter-${key}`)])),
};

const state = {
  catalog: null,
  filterMemo: { key: null, result: null },
  listKey: null,          // what the list currently shows, to skip needless re-renders
  listPage: 0,            // with listFilterKey: tells a page turn from a new filter
  listFilterKey: null,
  shown: 'none',          // 'list' | 'detail' | 'status'
  expanded: new Map(),    // product -> how many versions its card shows
  lastListHash: '#/',
  listScroll: 0,
  detailFromList: false,  // true when history.back() returns to the list the detail was opened from
  returnFocusTo: null,    // fingerprint whose link gets focus when the list comes back
  focusSearch: false,     // '/' in the detail view: the list comes back with focus in the search box
  routedHash: null,       // the hash the page shows now
  typing: false,          // the current burst of typing already has its own history entry
  searchTimer: 0,
  // alias -> promise of its history, newest first (null: the registry knows no such alias). Kept for
  // as long as the index it was read against; a failed request is dropped so that Retry asks again.
  histories: new Map(),
};

const registryBase = new URL('.', location.href).href.replace(/\/$/, '');

// ---- routing ----------------------------------------------------------------------------------

function parseRoute(hash) {
  const raw = hash.replace(/^#/, '');
  const detail = /^\/image\/([^?#]+)/.exec(raw);
  if (detail) return { view: 'detail', key: safeDecode(detail[1]) };
  const params = new URLSearchParams(raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '');
  const filter = emptyFilter();
  for (const key of FILTER_KEYS) filter[key] = params.get(key) ?? '';
  const page = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1);
  return { view: 'list', filter, page };
}

function listHash(filter, page = 1) {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filter[key]) params.set(key, filter[key]);
  if (page > 1) params.set('page', String(page));
  const query = params.toString();
  return query ? `#/?${query}` : '#/';
}

function detailHash(fingerprint) {
  return `#/image/${encodeURIComponent(fingerprint)}`;
}

function safeDecode(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

function go(hash, { replace = false } = {}) {
  if (hash === (location.hash || '#/')) return;
  if (replace) history.replaceState(null, '', hash); else history.pushState(null, '', hash);
  route();
}

/** Shows what the URL says. Back/forward fire both popstate and hashchange: the second is a no-op. */
function route({ force = false } = {}) {
  if (!state.catalog) return;
  const hash = location.hash || '#/';
  if (hash === state.routedHash && !force) return;
  state.routedHash = hash;
  const current = parseRoute(hash);
  if (current.view === 'detail') {
    // Esc can step back in history only when the entry before this one is the list.
    state.detailFromList = state.shown === 'list';
    if (state.shown === 'list') state.listScroll = window.scrollY;
    showDetail(current.key);
  } else {
    state.lastListHash = listHash(current.filter, current.page);
    showList(current);
  }
}

function closeDetail() {
  if (state.detailFromList) history.back(); else go(state.lastListHash);
}

// ---- loading and status -------------------------------------------------------------------------

// A private registry (serve --private) answers 401 to every read without a token. The page then asks
// for one and keeps it only for this tab (sessionStorage, never localStorage or a cookie), sending it
// as a Bearer token on its own fetches.
const TOKEN_KEY = 'strata.token';

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

class TokenNeeded extends Error {}

async function refusalMessage(response) {
  try {
    const body = await response.json();
    return body?.errors?.[0]?.message || '';
  } catch {
    return '';
  }
}

function showTokenPrompt(error) {
  const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
  sessionStorage.removeItem(TOKEN_KEY);
  const input = h('input', {
    id: 'token-input', type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'strata_pat_…', required: true,
  });
  const form = h('form', {
    class: 'token-form', id: 'token-form',
    onsubmit: (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      load();
    },
  },
  h('label', { for: 'token-input' }, 'Access token'),
  input,
  h('div', { class: 'status-actions' }, h('button', { type: 'submit', class: 'button primary' }, 'Open the catalog')));
  showStatus(h('div', { class: 'status-card', role: 'alert', dataset: { state: 'token' } },
    h('p', { class: 'status-title' }, 'This registry is private'),
    h('p', { class: 'status-detail' }, hadToken && error.message
      ? `The token was refused: ${error.message}`
      : 'Reading it needs a token (any scope). It is kept only in this tab and sent only to this registry.'),
    form));
  input.focus();
}

class LoadError extends Error {
  constructor(title, detail) {
    super(detail);
    this.title = title;
  }
}

async function load() {
  showStatus(h('div', { class: 'status-card', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('p', { class: 'status-title' }, 'Loading the catalog…')));
  view.main.setAttribute('aria-busy', 'true');
  try {
    state.catalog = buildCatalog(await fetchIndex());
  } catch (error) {
    view.main.removeAttribute('aria-busy');
    if (error instanceof TokenNeeded) {
      showTokenPrompt(error);
      return;
    }
    showLoadError(error);
    return;
  }
  view.main.removeAttribute('aria-busy');
  state.histories = new Map();
  state.listKey = null;
  state.routedHash = null;
  state.filterMemo = { key: null, result: null };
  renderMeta();
  if (state.catalog.images.length === 0) {
    showEmpty();
    return;
  }
  renderStats();
  state.shown = 'none';
  route();
}

async function fetchIndex() {
  let response;
  try {
    response = await fetch('index.json', { headers: { Accept: 'application/json', ...authHeaders() }, cache: 'no-cache' });
  } catch {
    throw new LoadError('Cannot reach the registry',
      `The request for ${registryBase}/index.json got no answer. Check that the registry is running and reachable, then retry.`);
  }
  if (response.status === 401) throw new TokenNeeded(await refusalMessage(response));
  if (!response.ok) {
    throw new LoadError('The registry could not serve its catalog',
      `GET /index.json answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`);
  }
  try {
    return await response.json();
  } catch {
    throw new LoadError('The registry\u2019s catalog could not be read', 'GET /index.json did not return valid JSON.');
  }
}

function showLoadError(error) {
  const title = error instanceof LoadError ? error.title
    : error instanceof IndexFormatError ? 'The registry\u2019s catalog could not be read'
      : 'The catalog failed to load';
  const retry = h('button', { type: 'button', class: 'button primary', onclick: () => load() }, 'Retry');
  showStatus(h('div', { class: 'status-card error', role: 'alert', dataset: { state: 'error' } },
    h('p', { class: 'status-title' }, title),
    h('p', { class: 'status-detail' }, error.message),
    h('div', { class: 'status-actions' }, retry)));
  retry.focus();
}

function showEmpty() {
  showStatus(h('div', { class: 'status-card', dataset: { state: 'empty' } },
    h('p', { class: 'status-title' }, 'No images published yet'),
    h('p', { class: 'status-detail' },
      'Push a qcow2 chain with ', h('code', null, 'strata push'), ', or publish an image with ',
      h('code', null, 'POST /api/v1/images'), '. It will appear here as soon as the index is updated.'),
    h('div', { class: 'status-actions' },
      h('button', { type: 'button', class: 'button', onclick: () => load() }, 'Check again'))));
}

function showStatus(content) {
  show('status');
  replaceChildren(view.status, content);
}

function show(which) {
  state.shown = which;
  view.list.hidden = which !== 'list';
  view.detail.hidden = which !== 'detail';
  view.status.hidden = which !== 'status';
  view.stats.hidden = which !== 'list';
}

// ---- header and totals --------------------------------------------------------------------------

function renderMeta() {
  const updated = state.catalog.updated;
  replaceChildren(view.meta,
    h('span', null, 'Registry ', h('code', null, registryBase)),
    updated ? h('span', null, 'Index updated ', timeElement(updated)) : null,
    h('a', { href: 'index.json' }, 'index.json'));
}

function renderStats() {
  const { totals } = state.catalog;
  const share = totals.publishedBytes ? Math.round((totals.savedBytes / totals.publishedBytes) * 100) : 0;
  replaceChildren(view.stats,
    h('h2', { class: 'visually-hidden' }, 'Registry totals'),
    stat('images', 'Images', formatCount(totals.images),
      `${formatCount(totals.products)} ${totals.products === 1 ? 'product' : 'products'}`),
    stat('layers', 'Layers', formatCount(totals.layers), 'stored once each'),
    stat('stored', 'Stored', formatBytes(totals.storedBytes), `${formatCount(totals.storedBytes)} bytes`,
      totals.storedBytes),
    stat('saved', 'Saved by sharing layers', formatBytes(totals.savedBytes),
      `${share}% of ${formatBytes(totals.publishedBytes)} published`, totals.savedBytes));
}

function stat(name, label, value, note, bytes) {
  return h('div', { class: 'stat', dataset: { stat: name, ...(bytes === undefined ? {} : { bytes: String(bytes) }) } },
    h('p', { class: 'stat-label' }, label),
    h('p', { class: 'stat-value' }, value),
    h('p', { class: 'stat-note' }, note));
}

// ---- the list ---------------------------------------------------------------------------------

function filtered(filter) {
  const key = FILTER_KEYS.map((name) => filter[name]).join('\u0000');
  if (state.filterMemo.key !== key) state.filterMemo = { key, result: filterCatalog(state.catalog, filter) };
  return state.filterMemo.result;
}

function showList({ filter, page }) {
  const result = filtered(filter);
  const pages = Math.max(1, Math.ceil(result.groups.length / PRODUCTS_PER_PAGE));
  const current = Math.min(page, pages);
  const key = `${state.filterMemo.key}\u0001${current}\u0001${expandedKey(result, current)}`;
  const returning = state.shown === 'detail';
  const wasList = state.shown === 'list';
  show('list');
  document.title = 'Strata \u00b7 Image catalog';
  syncControls(filter, result);
  const pageTurned = wasList && state.listPage !== current
    && state.filterMemo.key === state.listFilterKey;
  if (state.listKey !== key) {
    state.listKey = key;
    renderResults(filter, result, current, pages);
  }
  state.listPage = current;
  state.listFilterKey = state.filterMemo.key;
  if (pageTurned) {
    // A new page starts at its top, with focus where a screen reader hears "showing products 21–40".
    view.filters.scrollIntoView({ block: 'start' });
    view.summary.focus({ preventScroll: true });
  }
  if (returning) {
    window.scrollTo(0, state.listScroll);
    const link = state.returnFocusTo
      && view.results.querySelector(`a.version-link[data-fingerprint="${CSS.escape(state.returnFocusTo)}"]`);
    if (state.focusSearch) view.search.focus({ preventScroll: true });
    else if (link) link.focus({ preventScroll: true });
  }
  state.returnFocusTo = null;
  state.focusSearch = false;
}

function expandedKey(result, page) {
  return result.groups.slice((page - 1) * PRODUCTS_PER_PAGE, page * PRODUCTS_PER_PAGE)
    .map(({ group }) => state.expanded.get(group.product) ?? '').join(',');
}

function syncControls(filter, result) {
  // Compare trimmed: a trailing space typed before the next word must survive the debounce.
  if (view.search.value.trim() !== filter.q) view.search.value = filter.q;
  for (const { key, all } of FACETS) {
    const select = view.selects[key];
    const counts = result.facetCounts[key];
    const options = [h('option', { value: '' }, all)];
    for (const value of state.catalog.facets[key]) {
      const count = counts.get(value) ?? 0;
      if (count === 0 && value !== filter[key]) continue;
      options.push(h('option', { value }, `${value} (${formatCount(count)})`));
    }
    if (filter[key] && !state.catalog.facets[key].includes(filter[key])) {
      options.push(h('option', { value: filter[key] }, `${filter[key]} (0)`));
    }
    replaceChildren(select, options);
    select.value = filter[key];
  }
  view.clear.hidden = FILTER_KEYS.every((name) => !filter[name]);
}

function renderResults(filter, result, page, pages) {
  const { totals } = state.catalog;
  const start = (page - 1) * PRODUCTS_PER_PAGE;
  const slice = result.groups.slice(start, start + PRODUCTS_PER_PAGE);
  const filteredView = FILTER_KEYS.some((name) => filter[name]);

  let summary = `${formatCount(result.imageCount)} ${result.imageCount === 1 ? 'image' : 'images'} in `
    + `${formatCount(result.groups.length)} ${result.groups.length === 1 ? 'product' : 'products'}`;
  if (filteredView) summary += ` (of ${formatCount(totals.images)})`;
  if (pages > 1) summary += ` \u00b7 showing products ${start + 1}\u2013${start + slice.length}`;
  view.summary.textContent = summary;

  if (slice.length === 0) {
    replaceChildren(view.results, h('div', { class: 'status-card compact', dataset: { state: 'no-match' } },
      h('p', { class: 'status-title' }, 'No images match these filters'),
      h('p', { class: 'status-detail' }, 'Try fewer words, or another operating system, release or architecture.'),
      h('div', { class: 'status-actions' },
        h('button', { type: 'button', class: 'button', onclick: () => go('#/') }, 'Clear filters'))));
  } else {
    const fragment = document.createDocumentFragment();
    for (const entry of slice) fragment.append(renderProduct(entry));
    replaceChildren(view.results, fragment);
  }
  renderPager(filter, page, pages);
}

function renderPager(filter, page, pages) {
  if (pages <= 1) {
    replaceChildren(view.pager);
    view.pager.hidden = true;
    return;
  }
  view.pager.hidden = false;
  const step = (target, label, rel) => (target >= 1 && target <= pages
    ? h('a', { class: 'button', href: listHash(filter, target), rel }, label)
    : h('span', { class: 'button', 'aria-disabled': 'true' }, label));
  replaceChildren(view.pager,
    step(page - 1, '\u2190 Previous', 'prev'),
    h('span', { class: 'pager-position', 'aria-current': 'page' }, `Page ${formatCount(page)} of ${formatCount(pages)}`),
    step(page + 1, 'Next \u2192', 'next'));
}

function renderProduct({ group, versions }) {
  const limit = state.expanded.get(group.product) ?? VERSIONS_COLLAPSED;
  const visible = versions.slice(0, limit);
  const headingId = `product-${cssId(group.product)}`;
  const title = group.title || `${group.os} ${group.release}`;

  const more = versions.length - visible.length;
  const actions = [];
  if (more > 0) {
    const next = Math.min(more, VERSIONS_STEP);
    actions.push(h('button', {
      type: 'button', class: 'button subtle', 'aria-expanded': 'false',
      onclick: () => expand(group.product, limit + next),
    }, more === next ? `Show ${formatCount(more)} older ${more === 1 ? 'version' : 'versions'}`
      : `Show ${formatCount(next)} more of ${formatCount(more)} older versions`));
  }
  if (limit > VERSIONS_COLLAPSED && versions.length > VERSIONS_COLLAPSED) {
    actions.push(h('button', {
      type: 'button', class: 'button subtle', 'aria-expanded': 'true',
      onclick: () => expand(group.product, VERSIONS_COLLAPSED),
    }, 'Show fewer'));
  }

  return h('article', { class: 'product', 'aria-labelledby': headingId, dataset: { product: group.product } },
    h('header', { class: 'product-head' },
      h('div', { class: 'product-name' },
        h('h2', { id: headingId }, title),
        h('p', { class: 'product-id' }, h('code', null, group.product))),
      h('ul', { class: 'tags', 'aria-label': 'Platform' },
        [group.os, group.release, group.arch, group.variant].filter(Boolean).map((tag) => h('li', { class: 'tag' }, tag)))),
    versionsTable(`Versions of ${group.product}, newest first`, visible),
    actions.length ? h('div', { class: 'product-actions' }, actions) : null);
}

function expand(product, limit) {
  if (limit <= VERSIONS_COLLAPSED) state.expanded.delete(product); else state.expanded.set(product, limit);
  const focusFrom = document.activeElement;
  const card = focusFrom?.closest?.('article.product');
  route({ force: true });
  // The card was rebuilt: keep keyboard focus on its replacement's first action.
  if (card) {
    const rebuilt = view.results.querySelector(`article.product[data-product="${CSS.escape(product)}"] .product-actions button`)
      ?? view.results.querySelector(`article.product[data-product="${CSS.escape(product)}"] a.version-link`);
    rebuilt?.focus();
  }
}

// ---- the detail view ----------------------------------------------------------------------------

function showDetail(key) {
  const catalog = state.catalog;
  const image = findImage(catalog, key);
  show('detail');
  window.scrollTo(0, 0);
  if (!image) {
    document.title = 'Image not found \u00b7 Strata';
    replaceChildren(view.detail, backLink(),
      h('div', { class: 'status-card', dataset: { state: 'not-found' } },
        h('h1', { class: 'status-title', tabindex: '-1' }, 'Image not found'),
        h('p', { class: 'status-detail' }, 'No image in this registry has the fingerprint or alias ',
          h('code', null, key), '. It may have been deleted.')));
    view.detail.querySelector('h1').focus();
    return;
  }
  state.returnFocusTo = image.fingerprint;
  document.title = `${image.product} ${image.version} \u00b7 Strata`;
  replaceChildren(view.detail, renderDetail(catalog, image));
  view.detail.querySelector('h1').focus();
}

function backLink() {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', {
      href: state.lastListHash,
      onclick: (event) => {
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        closeDetail();
      },
    }, '\u2190 All images'),
    h('span', { class: 'crumbs-hint' }, h('kbd', null, 'Esc')));
}

function renderDetail(catalog, image) {
  const { group } = image;
  const unique = uniqueLayers(catalog, image);
  const layers = image.chain.map((digest) => catalog.layers.get(digest));
  const top = catalog.layers.get(image.top);
  const layerUrl = new URL(top?.path ?? `layers/${image.top}.qcow2`, `${registryBase}/`).href;
  const pull = `strata pull ${image.pullName} --registry ${registryBase}`;
  const qemu = `qemu-img info --backing-chain ${layerUrl}`;
  const sharedCount = image.chain.length - unique.digests.length;
  const sharedBytes = image.downloadSize - unique.bytes;

  return h('article', { class: 'detail', dataset: { fingerprint: image.fingerprint } },
    backLink(),
    h('header', { class: 'detail-head' },
      h('p', { class: 'product-id' }, h('code', null, image.product)),
      h('h1', { tabindex: '-1' }, image.releaseTitle || `${image.os} ${image.release}`, ' ',
        h('span', { class: 'detail-version' }, image.version)),
      h('div', { class: 'detail-badges' },
        image.position === 0 ? h('span', { class: 'badge accent' }, 'newest') : null,
        aliasList(image.aliases)),
      image.position > 0
        ? h('p', { class: 'notice' }, 'A newer version of this product exists: ',
          h('a', { href: detailHash(group.newest.fingerprint) }, group.newest.version), '.')
        : null),

    h('section', { class: 'panel', 'aria-labelledby': 'use-heading' },
      h('h2', { id: 'use-heading' }, 'Use this image'),
      commandRow('Pull it with the Strata client', pull, 'pull', 'Pull command'),
      commandRow('Inspect the chain straight from the registry', qemu, 'qemu', 'qemu-img command')),

    h('section', { class: 'panel', 'aria-labelledby': 'size-heading' },
      h('h2', { id: 'size-heading' }, 'Size'),
      h('div', { class: 'stats compact' },
        stat('download', 'Full download', formatBytes(image.downloadSize), `${formatCount(image.downloadSize)} bytes`,
          image.downloadSize),
        stat('virtual', 'Virtual disk', formatBytes(image.virtualSize), `${formatCount(image.virtualSize)} bytes`,
          image.virtualSize),
        h('div', { class: 'stat highlight', dataset: { stat: 'unique', bytes: String(unique.bytes) } },
          h('p', { class: 'stat-label' }, 'New bytes if you hold the shared layers'),
          h('p', { class: 'stat-value', dataset: { testid: 'unique-bytes' } }, formatBytes(unique.bytes)),
          h('p', { class: 'stat-note' }, `${formatCount(unique.bytes)} bytes`))),
      h('p', { class: 'explain' }, sharedCount === 0
        ? 'No layer of this image is shared with another image: a client downloads the whole chain.'
        : `${sharedCount} of ${image.chain.length} layers (${formatBytes(sharedBytes)}) are shared with other images. `
          + `A client that already holds them downloads only the ${unique.digests.length} `
          + `${unique.digests.length === 1 ? 'layer' : 'layers'} unique to this image.`)),

    h('section', { class: 'panel', 'aria-labelledby': 'chain-heading' },
      h('h2', { id: 'chain-heading' }, 'Backing chain ', h('span', { class: 'muted' }, 'base \u2192 top')),
      h('ol', { class: 'chain' }, image.chain.map((digest, position) =>
        renderLayer(catalog, image, digest, layers[position], position)))),

    h('section', { class: 'panel', 'aria-labelledby': 'about-heading' },
      h('h2', { id: 'about-heading' }, 'About'),
      image.description ? h('p', { class: 'description', dataset: { testid: 'description' } }, image.description) : null,
      h('dl', { class: 'facts' },
        fact('Fingerprint', h('span', { class: 'fact-fingerprint' }, h('code', null, image.fingerprint),
          fingerprintButton(image.fingerprint, 'Copy'))),
        fact('Created', timeElement(image.created)),
        fact('Operating system', image.os),
        fact('Release', image.release),
        fact('Architecture', image.arch),
        fact('Variant', image.variant)),
      image.properties.length
        ? [h('h3', null, 'Properties'),
          h('dl', { class: 'facts properties' }, image.properties.map(([name, value]) => fact(name, value, 'property')))]
        : null),

    renderOlderVersions(image),
    renderAliasHistory(catalog, image));
}

function renderLayer(catalog, image, digest, layer, position) {
  const users = catalog.layerUsers.get(digest) ?? [];
  const others = users.filter((user) => user !== image);
  const role = image.chain.length === 1 ? 'base and top' : position === 0 ? 'base'
    : position === image.chain.length - 1 ? 'top' : `layer ${position + 1}`;
  const largest = Math.max(1, ...image.chain.map((d) => catalog.layers.get(d)?.size ?? 0));
  const bar = h('span', { class: 'layer-bar-fill' });
  bar.style.width = `${Math.max(1, Math.round(((layer?.size ?? 0) / largest) * 100))}%`;

  return h('li', { class: `layer${others.length ? ' shared' : ' unique'}`, dataset: { layer: digest, position: String(position) } },
    h('div', { class: 'layer-role' }, h('span', { class: 'layer-index' }, String(position + 1)), role),
    h('div', { class: 'layer-body' },
      h('div', { class: 'layer-line' },
        h('code', { class: 'layer-digest', title: digest }, shortFingerprint(digest)),
        fingerprintButton(digest, 'Copy', 'Layer digest'),
        h('span', { class: 'layer-size' }, layer ? formatBytes(layer.size) : 'missing from index'),
        layer ? h('span', { class: 'muted' }, `virtual ${formatBytes(layer.virtualSize)}`) : null),
      h('span', { class: 'layer-bar', 'aria-hidden': 'true' }, bar),
      others.length === 0
        ? h('p', { class: 'layer-shared' }, h('span', { class: 'badge accent' }, 'unique'), ' Only this image uses this layer.')
        : h('p', { class: 'layer-shared' },
          h('span', { class: 'badge' }, 'shared'),
          ` Also in ${formatCount(others.length)} other ${others.length === 1 ? 'image' : 'images'}: `,
          joinInline(others.slice(0, SHARED_WITH_SHOWN).map((other) =>
            h('a', { href: detailHash(other.fingerprint) }, `${other.product} ${other.version}`))),
          others.length > SHARED_WITH_SHOWN ? ` and ${formatCount(others.length - SHARED_WITH_SHOWN)} more` : '')));
}

function renderOlderVersions(image) {
  const older = image.group.versions.slice(image.position + 1);
  const shown = older.slice(0, OLDER_VERSIONS_SHOWN);
  return h('section', { class: 'panel', 'aria-labelledby': 'older-heading' },
    h('h2', { id: 'older-heading' }, 'Older versions ', h('span', { class: 'muted' }, `of ${image.product}`)),
    older.length === 0
      ? h('p', { class: 'muted' }, 'This is the oldest version of this product.')
      : versionsTable(`Older versions of ${image.product}`, shown),
    older.length > shown.length
      ? h('p', { class: 'muted' }, `and ${formatCount(older.length - shown.length)} older still.`)
      : null);
}

// ---- alias history (fetched when a detail view opens, never for the list) ------------------------

class HistoryError extends Error {}

function renderAliasHistory(catalog, image) {
  const aliases = aliasesOfProduct(catalog, image.product);
  return h('section', { class: 'panel alias-history', 'aria-labelledby': 'history-heading' },
    h('h2', { id: 'history-heading' }, 'Alias history ', h('span', { class: 'muted' }, 'newest first')),
    aliases.length === 0
      ? h('p', { class: 'muted' }, `No alias points at ${image.product}.`)
      : aliases.map((alias) => aliasHistory(catalog, image, alias)));
}

/** One alias: a heading that stays, and a body that goes from loading to its timeline or a message. */
function aliasHistory(catalog, image, alias) {
  const count = h('span', { class: 'history-count muted' });
  const heading = h('h3', { tabindex: '-1' }, h('span', { class: 'alias' }, alias), ' ', count);
  const body = h('div', { class: 'history-body' });
  const block = h('div', { class: 'history', dataset: { alias } }, heading, body);

  const load = () => {
    block.dataset.state = 'loading';
    block.setAttribute('aria-busy', 'true');
    replaceChildren(body, h('p', { class: 'history-status', role: 'status' },
      h('span', { class: 'spinner small', 'aria-hidden': 'true' }), `Loading the history of ${alias}…`));
    aliasHistoryOf(catalog, alias).then((changes) => {
      block.removeAttribute('aria-busy');
      if (changes === null || changes.length === 0) {
        block.dataset.state = 'unknown';
        replaceChildren(body, h('p', { class: 'history-status muted' }, 'The registry has no history recorded for this alias.'));
        return;
      }
      block.dataset.state = 'ready';
      count.textContent = `${formatCount(changes.length)} ${changes.length === 1 ? 'change' : 'changes'}`;
      renderTimeline(body, image, changes);
    }, (error) => {
      block.removeAttribute('aria-busy');
      block.dataset.state = 'error';
      replaceChildren(body, h('p', { class: 'history-status error', role: 'alert' },
        h('span', { class: 'history-message' }, `Could not load the history of ${alias}: ${error.message}.`),
        h('button', {
          type: 'button', class: 'button small',
          onclick: () => {
            heading.focus();
            load();
          },
        }, 'Retry')));
    });
  };
  load();
  return block;
}

function aliasHistoryOf(catalog, alias) {
  let pending = state.histories.get(alias);
  if (!pending) {
    pending = requestAliasHistory(catalog, alias);
    state.histories.set(alias, pending);
    pending.catch(() => {
      if (state.histories.get(alias) === pending) state.histories.delete(alias);
    });
  }
  return pending;
}

async function requestAliasHistory(catalog, alias) {
  // Alias names hold '/': the server takes the rest of the path as the name, segment by segment.
  const path = `api/v1/alias-history/${alias.split('/').map(encodeURIComponent).join('/')}`;
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'application/json', ...authHeaders() }, cache: 'no-cache' });
  } catch {
    throw new HistoryError('the registry did not answer');
  }
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (response.status === 404 && body?.errors?.[0]?.code === 'ALIAS_UNKNOWN') return null;
  if (!response.ok) throw new HistoryError(`HTTP ${response.status}`);
  try {
    return parseAliasHistory(catalog, body);
  } catch {
    throw new HistoryError('the answer was not an alias history');
  }
}

function renderTimeline(body, image, changes) {
  const list = h('ol', { class: 'history-list' });
  const draw = (all) => replaceChildren(list, (all ? changes : changes.slice(0, HISTORY_SHOWN))
    .map((change, position) => historyEntry(image, change, position === 0)));
  draw(false);
  let toggle = null;
  if (changes.length > HISTORY_SHOWN) {
    toggle = h('button', {
      type: 'button', class: 'button subtle', 'aria-expanded': 'false',
      onclick: () => {
        const all = toggle.getAttribute('aria-expanded') !== 'true';
        draw(all);
        toggle.setAttribute('aria-expanded', String(all));
        toggle.textContent = all ? `Show the latest ${HISTORY_SHOWN}` : `Show all ${formatCount(changes.length)} changes`;
      },
    }, `Show all ${formatCount(changes.length)} changes`);
  }
  replaceChildren(body, list, toggle ? h('div', { class: 'history-actions' }, toggle) : null);
}

function historyEntry(image, change, latest) {
  const target = change.image;
  let what;
  if (change.fingerprint === null) {
    what = [h('span', { class: 'history-nothing' }, 'nothing')];
  } else if (target) {
    const label = target.product === image.product ? target.version || '(no version)' : `${target.product} ${target.version}`;
    what = [h('a', { class: 'version-link', href: detailHash(target.fingerprint) }, label),
      target === image ? h('span', { class: 'badge accent' }, 'this version') : null];
  } else {
    what = [h('code', { title: change.fingerprint }, shortFingerprint(change.fingerprint)),
      h('span', { class: 'badge warn' }, 'unpublished')];
  }
  return h('li', { class: `history-entry${latest ? ' latest' : ''}`, dataset: { fingerprint: change.fingerprint ?? '' } },
    h('span', { class: 'history-at' }, timeElement(change.at)),
    h('span', { class: 'history-version' }, what),
    h('span', { class: 'history-reason' }, change.reason || '\u2014'));
}

// ---- small pieces -------------------------------------------------------------------------------

const VERSION_COLUMNS = [
  ['Version', 'version'], ['Aliases', 'aliases'], ['Fingerprint', 'fingerprint'], ['Created', 'created'],
  ['Download', 'size'], ['Virtual size', 'size'],
];

/** One row per image; the same fixed columns everywhere, so stacked product cards line up. */
function versionsTable(caption, images) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'versions' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('colgroup', null, VERSION_COLUMNS.map(([, kind]) => h('col', { class: `col-${kind}` }))),
      h('thead', null, h('tr', null, VERSION_COLUMNS.map(([label, kind]) =>
        h('th', { scope: 'col', class: kind === 'size' ? 'num' : null }, label)))),
      h('tbody', null, images.map((image) => h('tr', { dataset: { fingerprint: image.fingerprint } },
        h('th', { scope: 'row', dataset: { label: 'Version' } },
          h('a', { class: 'version-link', href: detailHash(image.fingerprint), dataset: { fingerprint: image.fingerprint } },
            image.version || '(no version)'),
          image.position === 0 ? h('span', { class: 'badge accent' }, 'newest') : null),
        h('td', { dataset: { label: 'Aliases' } }, aliasList(image.aliases)),
        h('td', { dataset: { label: 'Fingerprint' } }, fingerprintButton(image.fingerprint)),
        h('td', { dataset: { label: 'Created' } }, timeElement(image.created)),
        h('td', { class: 'num', dataset: { label: 'Download' } }, sizeElement(image.downloadSize)),
        h('td', { class: 'num', dataset: { label: 'Virtual size' } }, sizeElement(image.virtualSize)))))));
}

function commandRow(label, command, name, what) {
  return h('div', { class: 'command', dataset: { command: name } },
    h('p', { class: 'command-label' }, label),
    h('div', { class: 'command-line' },
      h('pre', null, h('code', null, command)),
      h('button', { type: 'button', class: 'button copy', dataset: { copy: command, copyWhat: what } }, 'Copy')));
}

function fingerprintButton(fingerprint, label, what = 'Fingerprint') {
  return h('button', {
    type: 'button',
    class: label ? 'button copy small' : 'fingerprint',
    title: `Copy the full ${what.toLowerCase()}`,
    'aria-label': `Copy full ${what.toLowerCase()} ${shortFingerprint(fingerprint)}\u2026`,
    dataset: { copy: fingerprint, copyWhat: what },
  }, label ?? h('code', null, shortFingerprint(fingerprint)));
}

function aliasList(aliases) {
  if (!aliases.length) return h('span', { class: 'muted', 'aria-label': 'no aliases' }, '\u2014');
  return h('ul', { class: 'aliases' }, aliases.map((alias) => h('li', { class: 'alias' }, alias)));
}

function timeElement(date) {
  if (!date) return h('span', { class: 'muted' }, 'unknown');
  return h('time', { datetime: date.toISOString(), title: date.toString() }, formatDate(date));
}

function sizeElement(bytes) {
  return h('span', { title: `${formatCount(bytes)} bytes`, dataset: { bytes: String(bytes) } }, formatBytes(bytes));
}

function fact(label, value, kind) {
  return h('div', { class: 'fact', dataset: kind ? { kind } : undefined }, h('dt', null, label), h('dd', null, value || '\u2014'));
}

function joinInline(nodes) {
  return nodes.flatMap((node, position) => (position ? [', ', node] : [node]));
}

function cssId(text) {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}

// ---- copying ----------------------------------------------------------------------------------

const restoreTimers = new WeakMap();
const originalContent = new WeakMap();

async function copy(button) {
  const text = button.dataset.copy;
  const what = button.dataset.copyWhat || 'Text';
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // Denied or unfocused document: fall back to the selection-based copy below.
    }
  }
  if (!copied) copied = copyViaSelection(text, button);
  flash(button, copied ? 'Copied' : 'Press Ctrl+C');
  announce(copied ? `${what} copied to the clipboard.` : `Could not copy. ${what}: ${text}`);
}

function copyViaSelection(text, button) {
  const buffer = h('textarea', { class: 'copy-buffer', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
  buffer.value = text;
  document.body.append(buffer);
  buffer.select();
  let copied = false;
  try { copied = document.execCommand('copy'); } catch { copied = false; }
  buffer.remove();
  button.focus();
  return copied;
}

function flash(button, message) {
  clearTimeout(restoreTimers.get(button));
  if (!originalContent.has(button)) {
    originalContent.set(button, [...button.childNodes]);
    // Keep the button's width so the row does not jump while it says "Copied".
    button.style.minWidth = `${button.offsetWidth}px`;
  }
  button.classList.add('copied');
  replaceChildren(button, h('span', { class: 'copied-label' }, message));
  restoreTimers.set(button, setTimeout(() => {
    replaceChildren(button, originalContent.get(button));
    originalContent.delete(button);
    button.classList.remove('copied');
    button.style.minWidth = '';
  }, 1800));
}

function announce(message) {
  view.announcer.textContent = '';
  // A fresh text node on the next frame makes screen readers repeat an identical message.
  requestAnimationFrame(() => { view.announcer.textContent = message; });
}

// ---- events -----------------------------------------------------------------------------------

function updateFilter(patch, { replace }) {
  const current = parseRoute(location.hash);
  const base = current.view === 'list' ? current.filter : emptyFilter();
  go(listHash({ ...base, ...patch }), { replace });
}

function applySearch() {
  clearTimeout(state.searchTimer);
  state.searchTimer = 0;
  // One history entry per burst of typing, not one per keystroke.
  updateFilter({ q: view.search.value.trim() }, { replace: state.typing });
  state.typing = true;
}

view.search.addEventListener('input', () => {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(applySearch, SEARCH_DEBOUNCE_MS);
});
view.search.addEventListener('blur', () => { state.typing = false; });
view.search.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && view.search.value) {
    event.preventDefault();
    view.search.value = '';
    applySearch();
  }
});
view.filters.addEventListener('submit', (event) => {
  event.preventDefault();
  applySearch();
});
for (const { key } of FACETS) {
  view.selects[key].addEventListener('change', () => {
    state.typing = false;
    updateFilter({ [key]: view.selects[key].value }, { replace: false });
  });
}
view.clear.addEventListener('click', () => {
  state.typing = false;
  go('#/');
  view.search.focus();
});

document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (button) copy(button);
});

document.addEventListener('keydown', (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const editing = target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
  if (event.key === '/' && !editing && state.catalog?.images.length) {
    event.preventDefault();
    if (state.shown === 'detail') {
      state.focusSearch = true;
      closeDetail();
    }
    view.search.focus();
    view.search.select();
  } else if (event.key === 'Escape' && state.shown === 'detail') {
    event.preventDefault();
    closeDetail();
  }
});

window.addEventListener('hashchange', route);
window.addEventListener('popstate', route);

load();
