// The catalog model: turns one /index.json (DESIGN §4) into the indexes the page needs.
// Everything here is built once per fetch and is pure (no DOM), so a 10,000-image index costs one
// pass to build and every later filter, page turn or detail view is a lookup or a linear scan.

const SUPPORTED_FORMAT = /^strata-index:1(\.\d+)*$/;
const SERIAL = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})/;

/** Raised for an index that parses as JSON but is not one this page understands. */
export class IndexFormatError extends Error {}

/** Builds the in-memory catalog from a parsed index document. */
export function buildCatalog(index) {
  if (index === null || typeof index !== 'object' || Array.isArray(index)) {
    throw new IndexFormatError('The index is not a JSON object.');
  }
  if (!SUPPORTED_FORMAT.test(String(index.format ?? ''))) {
    throw new IndexFormatError(`Unsupported index format "${String(index.format ?? '(missing)')}".`);
  }

  const layers = new Map();
  for (const [digest, raw] of Object.entries(objectOr(index.layers))) {
    const layer = objectOr(raw);
    layers.set(digest, {
      digest,
      size: count(layer.size),
      virtualSize: count(layer.virtual_size),
      parent: typeof layer.parent === 'string' ? layer.parent : null,
      path: typeof layer.path === 'string' && layer.path ? layer.path : `layers/${digest}.qcow2`,
    });
  }

  const aliases = new Map(Object.entries(objectOr(index.aliases)).map(([name, fp]) => [name, String(fp)]));

  const images = [];
  const byFingerprint = new Map();
  for (const [fingerprint, raw] of Object.entries(objectOr(index.images))) {
    const image = toImage(fingerprint, objectOr(raw), aliases);
    images.push(image);
    byFingerprint.set(fingerprint, image);
  }

  // Which images use each layer: the basis of "shared with" and of the per-image unique bytes.
  const layerUsers = new Map();
  for (const image of images) {
    for (const digest of new Set(image.chain)) {
      const users = layerUsers.get(digest);
      if (users) users.push(image); else layerUsers.set(digest, [image]);
    }
  }

  const groupsByProduct = new Map();
  for (const image of images) {
    let group = groupsByProduct.get(image.product);
    if (!group) {
      group = {
        product: image.product, os: image.os, release: image.release, arch: image.arch,
        variant: image.variant, versions: [],
      };
      groupsByProduct.set(image.product, group);
    }
    group.versions.push(image);
  }
  const groups = [...groupsByProduct.values()];
  for (const group of groups) {
    // Serials are YYYYMMDD_HHMM, so the newest sorts last lexically; fingerprint breaks ties.
    group.versions.sort((a, b) => compareText(b.version, a.version) || compareText(a.fingerprint, b.fingerprint));
    const newest = group.versions[0];
    group.newest = newest;
    group.title = newest.releaseTitle;
    group.versions.forEach((image, position) => {
      image.group = group;
      image.position = position;
    });
  }
  groups.sort(compareGroups);

  let storedBytes = 0;
  for (const layer of layers.values()) storedBytes += layer.size;
  // LXD items (metadata tarball, flattened disk) are stored too; equal files are stored once.
  const lxdFiles = new Map();
  for (const image of images) {
    if (image.lxd?.state !== 'ready') continue;
    for (const file of [image.lxd.meta, image.lxd.disk]) if (file) lxdFiles.set(file.sha256, file.size);
  }
  for (const size of lxdFiles.values()) storedBytes += size;
  const lxdInfo = objectOr(index.lxd);
  let publishedBytes = 0;
  for (const image of images) publishedBytes += image.downloadSize;

  return {
    format: String(index.format),
    updated: changedAt(index.updated),
    images, byFingerprint, groups, layers, layerUsers, aliases,
    // Whether the registry makes LXD/Incus items, and why not when it does not.
    lxd: { enabled: lxdInfo.enabled === true, message: text(lxdInfo.message), versions: count(lxdInfo.versions) },
    facets: {
      os: distinct(images, (image) => image.os, compareText),
      release: distinct(images, (image) => image.release, compareReleases),
      arch: distinct(images, (image) => image.arch, compareText),
    },
    totals: {
      images: images.length,
      products: groups.length,
      layers: layers.size,
      storedBytes,
      publishedBytes,
      savedBytes: Math.max(0, publishedBytes - storedBytes),
    },
  };
}

function toImage(fingerprint, raw, aliasTargets) {
  const os = text(raw.os);
  const release = text(raw.release);
  const arch = text(raw.arch);
  const variant = text(raw.variant);
  const product = text(raw.product) || [os, release, arch, variant].join(':');
  const version = text(raw.version);
  const aliases = Array.isArray(raw.aliases) ? raw.aliases.map(text).filter(Boolean) : [];
  const chain = Array.isArray(raw.chain) ? raw.chain.map(text).filter(Boolean) : [];
  const releaseTitle = text(raw.release_title);
  const created = parseDate(raw.created) ?? dateFromSerial(version);
  const properties = Object.entries(objectOr(raw.properties))
    .map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]);
  return {
    fingerprint, product, version, os, release, arch, variant, aliases, chain, releaseTitle, created,
    properties,
    description: text(raw.description),
    downloadSize: count(raw.download_size),
    virtualSize: count(raw.virtual_size),
    top: chain.length ? chain[chain.length - 1] : fingerprint,
    lxd: toLxd(raw.lxd),
    // The alias a "pull" command should name: one that still points at this very image.
    pullName: aliases.find((alias) => aliasTargets.get(alias) === fingerprint) ?? fingerprint,
    haystack: [product, version, fingerprint, releaseTitle, ...aliases].join('\n').toLowerCase(),
  };
}

/** An image's LXD items (DESIGN §9): ready (with the LXD fingerprint and files), preparing, failed; null when it gets none. */
function toLxd(raw) {
  const lxd = objectOr(raw);
  const state = text(lxd.state);
  if (!['ready', 'preparing', 'failed'].includes(state)) return null;
  const file = (value) => {
    const f = objectOr(value);
    return typeof f.sha256 === 'string' ? { sha256: f.sha256, size: count(f.size), path: text(f.path) } : null;
  };
  return {
    state,
    fingerprint: text(lxd.fingerprint),
    meta: file(lxd.meta),
    disk: file(lxd.disk),
    error: text(lxd.error),
    attempts: count(lxd.attempts),
  };
}

/** The filter a list view shows; every field is a plain string, '' meaning "any". */
export function emptyFilter() {
  return { q: '', os: '', release: '', arch: '' };
}

/**
 * Applies a filter in one pass: the matching product groups (each with its matching versions, newest
 * first) and, for every dropdown, the values still reachable given the *other* filters, with counts.
 */
export function filterCatalog(catalog, filter) {
  const terms = filter.q.toLowerCase().split(/\s+/).filter(Boolean);
  const facetCounts = { os: new Map(), release: new Map(), arch: new Map() };
  const groups = [];
  let imageCount = 0;
  for (const group of catalog.groups) {
    const osOk = !filter.os || group.os === filter.os;
    const releaseOk = !filter.release || group.release === filter.release;
    const archOk = !filter.arch || group.arch === filter.arch;
    let versions = null;
    for (const image of group.versions) {
      if (!terms.every((term) => image.haystack.includes(term))) continue;
      if (releaseOk && archOk) bump(facetCounts.os, group.os);
      if (osOk && archOk) bump(facetCounts.release, group.release);
      if (osOk && releaseOk) bump(facetCounts.arch, group.arch);
      if (osOk && releaseOk && archOk) (versions ??= []).push(image);
    }
    if (versions) {
      groups.push({ group, versions });
      imageCount += versions.length;
    }
  }
  return { groups, imageCount, facetCounts };
}

/** Bytes a client holding every layer some other image also uses would still fetch for this image. */
export function uniqueLayers(catalog, image) {
  const unique = image.chain.filter((digest) => (catalog.layerUsers.get(digest)?.length ?? 0) <= 1);
  const bytes = unique.reduce((sum, digest) => sum + (catalog.layers.get(digest)?.size ?? 0), 0);
  return { digests: unique, bytes };
}

/** Resolves a detail route's argument: a fingerprint, or an alias as a convenience. */
export function findImage(catalog, key) {
  return catalog.byFingerprint.get(key) ?? catalog.byFingerprint.get(catalog.aliases.get(key) ?? '') ?? null;
}

/** The aliases that now resolve to a version of `product`, by name. */
export function aliasesOfProduct(catalog, product) {
  const names = [];
  for (const [name, fingerprint] of catalog.aliases) {
    if (catalog.byFingerprint.get(fingerprint)?.product === product) names.push(name);
  }
  return names.sort(collator.compare);
}

/**
 * One alias's history (GET /api/v1/alias-history/<alias>), newest first. The server lists changes
 * in the order it recorded them, which is kept (reversed) rather than re-sorted by time: two moves
 * in the same millisecond still show in the order they happened. Each change's fingerprint is
 * looked up in this page's index: `image` is null when the alias resolved to nothing, or to an
 * image the index no longer lists.
 */
export function parseAliasHistory(catalog, body) {
  if (body === null || typeof body !== 'object' || !Array.isArray(body.history)) {
    throw new IndexFormatError('The answer has no "history" list.');
  }
  return body.history.map((raw) => {
    const change = objectOr(raw);
    const fingerprint = typeof change.fingerprint === 'string' && change.fingerprint ? change.fingerprint : null;
    return {
      at: parseDate(change.at),
      product: typeof change.product === 'string' ? change.product : null,
      fingerprint,
      image: fingerprint ? catalog.byFingerprint.get(fingerprint) ?? null : null,
      reason: text(change.reason),
    };
  }).reverse();
}

// ---- formatting -------------------------------------------------------------------------------

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const GROUPED = new Intl.NumberFormat('en-US');

/** Binary units: 1536 -> "1.5 KiB", 2^31 -> "2 GiB"; three significant figures at most. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  let value = bytes;
  let unit = 0;
  // 1023.7 MiB would round to "1024 MiB"; step up a unit instead.
  while (value >= 1023.5 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
  const figure = value.toFixed(digits);
  return `${digits ? figure.replace(/\.?0+$/, '') : figure} ${UNITS[unit]}`;
}

/** The exact figure, "12,928,590". */
export function formatCount(value) {
  return GROUPED.format(value);
}

/** "2026-11-22 10:00 UTC": unambiguous for a reader anywhere; the local time goes in a tooltip. */
export function formatDate(date) {
  if (!date) return 'unknown';
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function shortFingerprint(fingerprint) {
  return fingerprint.slice(0, 12);
}

// ---- helpers ----------------------------------------------------------------------------------

export function dateFromSerial(version) {
  const match = SERIAL.exec(version ?? '');
  if (!match) return null;
  const [, year, month, day, hour, minute] = match.map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute));
  return Number.isNaN(date.getTime()) ? null : date;
}

function parseDate(value) {
  if (typeof value !== 'string' || !value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The server writes the epoch until its catalog first changes: that is "never", not a date to show. */
function changedAt(value) {
  const date = parseDate(value);
  return date && date.getTime() > 0 ? date : null;
}

function objectOr(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

function text(value) {
  return value === null || value === undefined ? '' : String(value);
}

function count(value) {
  const number = Number(value);
  return Number.isFinite(number) && number >= 0 ? number : 0;
}

function bump(map, key) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function distinct(images, key, compare) {
  return [...new Set(images.map(key))].filter(Boolean).sort(compare);
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

function compareText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Releases compare numerically where they are numbers ("3.9" < "3.20"), newest first. */
export function compareReleases(a, b) {
  return collator.compare(b, a);
}

function compareGroups(a, b) {
  return collator.compare(a.os, b.os)
    || compareReleases(a.release, b.release)
    || collator.compare(a.arch, b.arch)
    || collator.compare(a.variant, b.variant)
    || compareText(a.product, b.product);
}
