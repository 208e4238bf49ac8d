/* cairn serve's web page: a small client of the REST API (same ACL as the
 * CLI). Everything that comes from the server is put into the page as text
 * (textContent, attributes), never as HTML: labels and names are written by
 * users. The session is an API token kept in sessionStorage. */
'use strict';

const TOKEN_KEY = 'cairn.token';
const USER_KEY = 'cairn.user';
const $ = (id) => document.getElementById(id);

/* An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `the server answered ${status}`);
    this.status = status;
    this.diagnostics = (body && body.diagnostics) || [];
  }
}

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let doc = null;
  try { doc = await res.json(); } catch (e) { doc = null; }
  if (res.status === 401 && path !== '/api/v1/login') {
    forget();
    showLogin('Your session ended: log in again.');
    throw new ApiError(401, doc);
  }
  if (!res.ok) throw new ApiError(res.status, doc);
  return doc;
}

/* ---- messages ---- */

function showMessage(text, lines, kind) {
  const m = $('message');
  m.replaceChildren(el('strong', {}, text));
  for (const l of lines || []) m.append(el('div', { class: 'diagnostic' }, l));
  m.className = kind || 'error';
  m.hidden = false;
}

function clearMessage() {
  $('message').hidden = true;
  $('message').replaceChildren();
}

function showError(e) {
  if (e instanceof ApiError && e.status === 401) return;
  showMessage(e.message, e.diagnostics, 'error');
}

/* ---- login ---- */

function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

function showLogin(error) {
  // Nothing of the last session stays on the page.
  stopJobWatch();
  clearMessage();
  $('job-status').hidden = true;
  $('graph-view').hidden = true;
  $('graph').replaceChildren();
  $('environments').querySelector('tbody').replaceChildren();
  $('demos').querySelector('tbody').replaceChildren();
  $('demo-offers').replaceChildren();
  $('datasets').replaceChildren();
  $('demos-view').hidden = true;
  $('revisions').replaceChildren();
  $('app-view').hidden = true;
  $('who').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = error || '';
  $('login-error').hidden = !error;
  $('login-user').focus();
}

async function login(ev) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  try {
    const r = await api('POST', '/api/v1/login', { user, password });
    sessionStorage.setItem(TOKEN_KEY, r.token);
    sessionStorage.setItem(USER_KEY, r.user);
    $('login-password').value = '';
    showApp();
  } catch (e) {
    showLogin(e.status === 401 ? 'Wrong user name or password.' : e.message);
  }
}

async function logout() {
  try { await api('POST', '/api/v1/logout'); } catch (e) { /* the session ends either way */ }
  forget();
  showLogin();
}

function showApp() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('who').textContent = 'logged in as ' + sessionStorage.getItem(USER_KEY);
  $('who').hidden = false;
  $('logout').hidden = false;
  clearMessage();
  refresh();
}

async function refresh() {
  await Promise.all([loadDemos().catch(showError), loadEnvironments().catch(showError),
    loadRevisions().catch(showError)]);
}

/* ---- environments ---- */

function safeUrl(u) {
  return typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null;
}

function when(iso, now) {
  const t = Date.parse(iso);
  const d = Math.round((t - now) / 60000);
  const abs = Math.abs(d);
  const span = abs < 60 ? `${abs} min` : abs < 48 * 60 ? `${Math.round(abs / 60)} h` : `${Math.round(abs / 1440)} d`;
  return iso.replace('T', ' ').replace('Z', ' UTC') + (d >= 0 ? ` (in ${span})` : ` (${span} ago)`);
}

function expiryText(env, now) {
  if (env.pinned) return 'pinned';
  if (env.deadline) return when(env.deadline, now);
  if (env.ttl) return `ttl ${Math.round(env.ttl / 3600)} h after its last change`;
  return 'never';
}

function prText(labels) {
  const parts = [];
  if (labels.pr) parts.push('#' + labels.pr);
  if (labels.branch) parts.push(labels.branch);
  if (labels.repo) parts.push(labels.repo);
  return parts.join(' · ');
}

async function loadEnvironments() {
  const doc = await api('GET', '/api/v1/environments');
  const now = Date.parse(doc.now) || Date.now();
  $('generation').textContent = `generation ${doc.generation}`;
  $('problems').textContent = doc.problems.join('; ');
  $('problems').hidden = doc.problems.length === 0;
  const body = $('environments').querySelector('tbody');
  body.replaceChildren();
  for (const env of doc.environments) body.append(environmentRow(env, now));
  $('no-environments').hidden = doc.environments.length !== 0;
}

function environmentRow(env, now) {
  const url = safeUrl(env.url);
  const labels = env.labels || {};
  const rest = Object.entries(labels).filter(([k]) => !['pr', 'branch', 'repo'].includes(k))
    .map(([k, v]) => `${k}=${v}`).join(', ');
  const state = env.state;
  const row = el('tr', { 'data-id': env.id },
    el('td', { class: 'id' }, env.id),
    el('td', { class: 'owner' }, env.user),
    el('td', { class: 'contract' }, env.contract),
    el('td', { class: 'pr' }, prText(labels), rest ? el('div', { class: 'labels' }, rest) : null),
    el('td', { class: 'url' }, url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : '—'),
    el('td', { class: 'expiry', title: env.expires ? `expires ${env.expires}` : null }, expiryText(env, now)),
    el('td', { class: 'env-state' }, el('span', { class: 'state state-' + state.replace(/\s+/g, '-') }, state),
      env.reason ? el('div', { class: 'labels' }, env.reason) : null),
    el('td', { class: 'generation' }, env.generation ? String(env.generation) : '—'),
    el('td', { class: 'actions' }));
  const actions = row.querySelector('td.actions');
  const canExtend = !env.pinned && (env.deadline || env.ttl);
  actions.append(
    el('button', { type: 'button', class: 'extend', disabled: !canExtend, title: 'expire 24 h later',
                   onclick: () => act(env, 'extend') }, 'Extend 24 h'),
    env.stopped
      ? el('button', { type: 'button', class: 'start', onclick: () => act(env, 'start') }, 'Start')
      : el('button', { type: 'button', class: 'stop', onclick: () => act(env, 'stop') }, 'Stop'),
    el('button', { type: 'button', class: 'delete danger', onclick: () => confirmDelete(env, actions) }, 'Delete'),
    el('button', { type: 'button', class: 'graph', onclick: () => showGraph(env) }, 'Graph'));
  return row;
}

function confirmDelete(env, cell) {
  const box = el('div', { class: 'confirm' }, `Delete ${env.id}? Its instances are removed. `,
    el('button', { type: 'button', class: 'confirm-delete danger', onclick: () => act(env, 'delete') }, 'Delete'),
    el('button', { type: 'button', class: 'cancel-delete', onclick: () => box.remove() }, 'Cancel'));
  cell.append(box);
}

function envPath(env) {
  return `/api/v1/environments/${encodeURIComponent(env.namespace)}/${encodeURIComponent(env.name)}`;
}

async function act(env, action) {
  clearMessage();
  try {
    const r = action === 'delete'
      ? await api('DELETE', envPath(env))
      : await api('POST', `${envPath(env)}/${action}`);
    const what = { extend: 'extended', stop: 'stopped', start: 'started', delete: 'deleted' }[action];
    showMessage(r.changed ? `${env.id} ${what}: generation ${r.generation}` : `${env.id}: nothing changed`,
      r.expires ? [`expires ${r.expires}`] : [], 'info');
    if (r.job) watchJob(r.job);
    await refresh();
  } catch (e) {
    showError(e);
  }
}

/* ---- demos ---- */

async function loadDemos() {
  const doc = await api('GET', '/api/v1/demos');
  const now = Date.now();
  // A button per contract the server offers demos of and the ACL lets this user ask for.
  $('demo-offers').replaceChildren(...doc.offers.filter((o) => o.allowed).map((o) =>
    el('button', { type: 'button', class: 'request-demo', 'data-contract': o.contract,
                   title: `a demo of ${o.contract} for ${o.ttl}`, onclick: () => requestDemo(o.contract) },
      `Request demo of ${o.contract}`)));
  $('demos').querySelector('tbody').replaceChildren(...doc.demos.map((d) => demoRow(d, now)));
  // Each dataset: when the server refreshes it, and how its last refresh went.
  $('datasets').replaceChildren(...doc.datasets.map((s) => el('li', { 'data-dataset': s.dataset },
    `data ${s.dataset}: ${s.schedule ? `snapshot and prepare daily at ${s.schedule} (server time)` : 'no schedule'}`,
    s.last_job ? el('span', { class: 'job', 'data-status': s.last_job.status },
      ` — last refresh job ${s.last_job.id}: ${s.last_job.status} at ${s.last_job.updated}` +
      (s.last_job.message ? ` (${s.last_job.message})` : '')) : null)));
  $('no-demos').hidden = doc.demos.length !== 0;
  $('demos-view').hidden = doc.offers.length === 0 && doc.demos.length === 0 && doc.datasets.length === 0;
}

function demoRow(d, now) {
  const url = safeUrl(d.url);
  const env = { id: d.id, namespace: d.namespace, name: d.name };
  const row = el('tr', { 'data-id': d.id },
    el('td', { class: 'id' }, d.id, el('div', { class: 'labels host' }, d.host || '')),
    el('td', { class: 'requested-by' }, d.requested_by),
    el('td', { class: 'contract' }, d.contract),
    el('td', { class: 'url' }, url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : '—'),
    el('td', { class: 'snapshot' }, d.snapshot || '—'),
    el('td', { class: 'build' }, d.build || '—'),
    el('td', { class: 'expiry', title: d.expires ? `expires ${d.expires}` : null },
      d.pinned ? 'pinned' : d.expires ? when(d.expires, now) : 'never'),
    el('td', { class: 'env-state' }, el('span', { class: 'state state-' + (d.state || 'unknown').replace(/\s+/g, '-') }, d.state || 'unknown'),
      d.reason ? el('div', { class: 'labels' }, d.reason) : null),
    el('td', { class: 'actions' }));
  const actions = row.querySelector('td.actions');
  actions.append(
    el('button', { type: 'button', class: 'extend', disabled: d.pinned || !d.expires, title: 'expire 24 h later',
                   onclick: () => act(env, 'extend') }, 'Extend 24 h'),
    el('button', { type: 'button', class: 'delete danger', onclick: () => confirmDelete(env, actions) }, 'Delete'));
  return row;
}

async function requestDemo(contract) {
  clearMessage();
  try {
    const r = await api('POST', '/api/v1/demos', { contract });
    showMessage(`demo ${r.id} requested: ${r.host}`, [`expires ${r.expires}`], 'info');
    if (r.job) watchJob(r.job);
    await refresh();
  } catch (e) {
    showError(e);
  }
}

/* ---- jobs ---- */

let jobTimer = null;

function stopJobWatch() {
  if (jobTimer) clearTimeout(jobTimer);
  jobTimer = null;
}

function watchJob(id) {
  stopJobWatch();
  const box = $('job-status');
  box.hidden = false;
  const started = Date.now();
  const poll = async () => {
    try {
      const j = await api('GET', `/api/v1/jobs/${id}`);
      const retry = j.status === 'queued' && j.attempts > 0 ? `, retry ${j.attempts} at ${j.not_before}` : '';
      box.replaceChildren(el('span', { class: 'job', 'data-status': j.status },
        `${j.kind} job ${j.id}: ${j.status}${retry}`), j.message ? el('span', { class: 'muted' }, ` — ${j.message}`) : '');
      if (['done', 'failed', 'cancelled'].includes(j.status)) {
        jobTimer = null;
        loadEnvironments().catch(showError);
        loadDemos().catch(showError);
        return;
      }
    } catch (e) {
      if (e.status === 401) return;
      box.textContent = `job ${id}: ${e.message}`;
    }
    if (Date.now() - started < 10 * 60 * 1000) jobTimer = setTimeout(poll, 1000);
  };
  poll();
}

/* ---- revisions and their diffs ---- */

async function loadRevisions() {
  const doc = await api('GET', '/api/v1/revisions');
  const list = $('revisions');
  const open = new Set([...list.querySelectorAll('details[open]')].map((d) => d.dataset.generation));
  list.replaceChildren();
  for (const g of doc.generations) {
    const summary = el('summary', {},
      `generation ${g.generation}: ${g.verb} by ${g.user}, ${g.time.replace('T', ' ').replace('Z', ' UTC')} `,
      el('span', { class: 'muted' }, `(${g.created} created, ${g.updated} updated, ${g.deleted} deleted)`));
    const details = el('details', { 'data-generation': g.generation }, summary, el('div', { class: 'diff' }));
    details.addEventListener('toggle', () => { if (details.open) loadDiff(details, g.generation); });
    list.append(el('li', { value: g.generation }, details));
    if (open.has(String(g.generation))) details.open = true;
  }
}

/* Keys sorted, so that two versions of an object line up. */
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = canonical(v[k]);
    return o;
  }
  return v;
}

function jsonLines(obj) {
  return obj === null || obj === undefined ? [] : JSON.stringify(canonical(obj), null, 2).split('\n');
}

/* A line diff (longest common subsequence): [[' '|'+'|'-', line], ...]. */
function lineDiff(a, b) {
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push([' ', a[i]]); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(['-', a[i++]]);
    else out.push(['+', b[j++]]);
  }
  while (i < n) out.push(['-', a[i++]]);
  while (j < m) out.push(['+', b[j++]]);
  return out;
}

async function loadDiff(details, generation) {
  const box = details.querySelector('.diff');
  box.replaceChildren(el('span', { class: 'muted' }, 'loading…'));
  try {
    const doc = await api('GET', `/api/v1/revisions/${generation}/diff`);
    box.replaceChildren();
    if (!doc.changes.length) box.append(el('span', { class: 'muted' }, 'no object changed'));
    for (const c of doc.changes) {
      const pre = el('pre', {});
      for (const [op, line] of lineDiff(jsonLines(c.old), jsonLines(c.new))) {
        pre.append(el('span', { class: 'line ' + (op === '+' ? 'add' : op === '-' ? 'del' : 'same') }, `${op} ${line}`));
      }
      box.append(el('h4', {}, `${c.change} ${c.kind} ${c.namespace}/${c.name}`), pre);
    }
  } catch (e) {
    box.replaceChildren(el('span', { class: 'error' }, e.message));
  }
}

/* ---- an environment's graph ---- */

async function showGraph(env) {
  clearMessage();
  let g;
  try {
    g = await api('GET', `${envPath(env)}/graph`);
  } catch (e) {
    showError(e);
    return;
  }
  $('graph-view').hidden = false;
  $('graph-title').textContent = g.id;
  $('graph-reason').textContent = g.resolved ? '' : `not resolved: ${g.reason}`;
  $('graph-reason').hidden = g.resolved;
  $('graph').replaceChildren(renderGraph(g));
  $('graph-view').scrollIntoView({ block: 'nearest' });
}

/* Layers by level (the longest path from the environment's service
 * instance), top to bottom; edges from what needs to what is needed. */
function renderGraph(g) {
  const W = 250, H = 46, GX = 30, GY = 60, PAD = 20;
  const levels = [];
  for (const n of g.nodes) (levels[n.level] = levels[n.level] || []).push(n);
  const widest = Math.max(1, ...levels.map((l) => (l ? l.length : 0)));
  const width = PAD * 2 + widest * W + (widest - 1) * GX + 80;
  const height = PAD * 2 + levels.length * H + Math.max(0, levels.length - 1) * GY;
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa3b5' }));
  defs.append(marker);
  root.append(defs);
  const pos = new Map();
  levels.forEach((layer, lv) => {
    if (!layer) return;
    const offset = (width - 80 - (layer.length * W + (layer.length - 1) * GX)) / 2;
    layer.forEach((n, i) => pos.set(n.key, { x: offset + i * (W + GX), y: PAD + lv * (H + GY) }));
  });
  for (const e of g.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    // An edge that skips a layer goes round the side, not through the nodes between.
    const skip = b.y - a.y > H + GY;
    const x1 = skip ? a.x + W : a.x + W / 2, y1 = skip ? a.y + H / 2 : a.y + H;
    const x2 = skip ? b.x + W : b.x + W / 2, y2 = skip ? b.y + H / 2 : b.y;
    const d = skip
      ? `M${x1},${y1} C${x1 + 70},${y1} ${x2 + 70},${y2} ${x2},${y2}`
      : `M${x1},${y1} C${x1},${y1 + GY / 2} ${x2},${y2 - GY / 2} ${x2},${y2}`;
    root.append(svg('path', { class: 'edge', d,
                               'marker-end': 'url(#arrow)', 'data-from': e.from, 'data-to': e.to }));
  }
  for (const n of g.nodes) {
    const p = pos.get(n.key);
    const cls = ['node', n.root ? 'root' : '', n.state ? 'state-' + n.state : ''].filter(Boolean).join(' ');
    const node = svg('g', { class: cls, transform: `translate(${p.x},${p.y})`, 'data-key': n.key });
    node.append(svg('title', {}, n.key + (n.state ? ` (${n.state})` : '')));
    node.append(svg('rect', { width: W, height: H, rx: 6 }));
    node.append(svg('text', { x: 10, y: 18 }, n.root ? `${n.service} (service)` : n.component));
    node.append(svg('text', { x: 10, y: 36, class: 'sub' },
      [n.context, n.code, n.state].filter(Boolean).join(' · ')));
    root.append(node);
  }
  return root;
}

/* ---- start ---- */

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  if (sessionStorage.getItem(TOKEN_KEY)) showApp();
  else showLogin();
});
