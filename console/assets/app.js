// The console's page app: plain JavaScript, no framework, no build step. Pages are chosen by the
// URL hash (#cluster, #topics, #topic/NAME, #groups, #group/NAME, #messages, #charts); every
// element is built with textContent (never innerHTML), so names and message bodies cannot inject
// markup. Errors from the API are shown in the banner as the server words them.
'use strict';

const state = { readOnly: true, namesrv: '', token: sessionStorage.getItem('console-token') || '', timer: null };

// ----- helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Through the CSSOM: the page's Content-Security-Policy forbids style attributes.
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function showError(msg) {
  const e = document.getElementById('error');
  if (!msg) { e.hidden = true; e.textContent = ''; return; }
  e.textContent = msg;
  e.hidden = false;
}

function notice(msg) {
  const n = document.getElementById('notice');
  n.textContent = msg;
  n.hidden = !msg;
}

class ApiError extends Error {}

async function api(path, body) {
  const opts = { headers: {} };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    if (state.token) opts.headers['Authorization'] = 'Bearer ' + state.token;
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    throw new ApiError('The console server cannot be reached (' + e.message + ').');
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON: handled below */ }
  if (!resp.ok) {
    const msg = data && data.error ? data.error : 'HTTP ' + resp.status;
    if (resp.status === 401) { state.token = ''; sessionStorage.removeItem('console-token'); renderSession(); }
    throw new ApiError(msg);
  }
  return data;
}

const pad = (n) => String(n).padStart(2, '0');
function fmtTime(ms) {
  if (!ms || ms <= 0) return '—';
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}
function toLocalInput(ms) {
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
}
const fmt2 = (x) => Number(x || 0).toFixed(2);
const num = (x) => Number(x || 0).toLocaleString('en-US');

function table(headers, rows, testid) {
  return h('table', { 'data-testid': testid },
    h('thead', {}, h('tr', {}, headers.map((c) => h('th', { class: c.num ? 'num' : '' }, c.label || c)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'Nothing to show.'))));
}

function confirmDialog(text, typed) {
  // A modal asking for confirmation; with `typed`, the user must type that word first.
  return new Promise((resolve) => {
    const modal = document.getElementById('modal');
    const body = document.getElementById('modal-body');
    const ok = document.getElementById('modal-ok');
    const cancel = document.getElementById('modal-cancel');
    body.replaceChildren(h('p', {}, text));
    let input = null;
    if (typed) {
      input = h('input', { 'data-testid': 'confirm-input', placeholder: typed, autocomplete: 'off' });
      body.append(h('p', { class: 'muted' }, 'Type ', h('b', {}, typed), ' to confirm.'), input);
      ok.disabled = true;
      input.addEventListener('input', () => { ok.disabled = input.value !== typed; });
    } else {
      ok.disabled = false;
    }
    modal.hidden = false;
    (input || ok).focus();
    const done = (v) => { modal.hidden = true; ok.onclick = null; cancel.onclick = null; resolve(v); };
    ok.onclick = () => done(true);
    cancel.onclick = () => done(false);
  });
}

async function act(text, typed, fn) {
  // Runs a state change after confirmation, showing its outcome.
  if (!(await confirmDialog(text, typed))) return null;
  showError('');
  try {
    const r = await fn();
    return r;
  } catch (e) {
    showError(e.message);
    return null;
  }
}

function writeButton(label, attrs, onclick) {
  const b = h('button', Object.assign({ type: 'button', onclick }, attrs), label);
  if (state.readOnly) { b.disabled = true; b.title = 'read-only console'; }
  else if (!state.token) { b.title = 'log in first'; }
  return b;
}

// ----- session -------------------------------------------------------------------------------

function renderSession() {
  const s = document.getElementById('session');
  s.replaceChildren();
  s.append(h('span', { class: 'badge', title: 'name servers' }, state.namesrv));
  if (state.readOnly) {
    s.append(h('span', { class: 'badge', 'data-testid': 'read-only' }, 'read-only'));
  } else if (state.token) {
    s.append(h('button', { type: 'button', 'data-testid': 'logout', onclick: () => {
      state.token = ''; sessionStorage.removeItem('console-token'); renderSession(); route();
    } }, 'Log out'));
  } else {
    s.append(h('button', { type: 'button', 'data-testid': 'login', onclick: login }, 'Log in'));
  }
}

async function login() {
  const modal = document.getElementById('modal');
  const body = document.getElementById('modal-body');
  const ok = document.getElementById('modal-ok');
  const cancel = document.getElementById('modal-cancel');
  const input = h('input', { type: 'password', 'data-testid': 'token-input', placeholder: 'token', autocomplete: 'off' });
  body.replaceChildren(h('p', {}, 'Changes need the console\'s token (from its --token-file).'), input);
  ok.disabled = false;
  modal.hidden = false;
  input.focus();
  const close = () => { modal.hidden = true; ok.onclick = null; cancel.onclick = null; };
  cancel.onclick = close;
  ok.onclick = async () => {
    const prev = state.token;
    state.token = input.value.trim();
    try {
      await api('/api/login', {});
      sessionStorage.setItem('console-token', state.token);
      close();
      showError('');
      renderSession();
      route();
    } catch (e) {
      state.token = prev;
      body.querySelector('.bad')?.remove();
      body.append(h('p', { class: 'bad', 'data-testid': 'login-error' }, e.message));
    }
  };
}

// ----- cluster -------------------------------------------------------------------------------

async function pageCluster(main) {
  main.replaceChildren(h('h1', {}, 'Cluster'), h('div', { class: 'toolbar' },
    h('span', { class: 'muted', 'data-testid': 'updated' }, ''), h('span', { class: 'grow' }),
    h('span', { class: 'muted' }, 'refreshes every 5 s')), h('div', { id: 'cluster-body' }));
  const refresh = async () => {
    const c = await api('/api/cluster');
    const rows = c.brokers.map((b) => {
      const master = b.brokerId === 0;
      const ratio = b.diskRatio || 0;
      return h('tr', { 'data-broker': b.brokerName + ':' + b.brokerId },
        h('td', {}, b.cluster),
        h('td', {}, b.brokerName),
        h('td', { class: 'num' }, b.brokerId),
        h('td', {}, h('span', { class: 'badge ' + (master ? 'master' : 'slave') }, b.role)),
        h('td', { class: 'mono', 'data-col': 'addr' }, b.addr),
        b.error ? h('td', { class: 'bad', colspan: 6 }, 'not answering: ' + b.error) : [
          h('td', { 'data-col': 'version' }, b.version),
          h('td', { class: 'num', 'data-col': 'in' }, fmt2(b.inTps)),
          h('td', { class: 'num', 'data-col': 'out' }, fmt2(b.outTps)),
          h('td', { 'data-col': 'disk' }, h('span', { class: 'bar' + (ratio > 0.85 ? ' high' : '') },
            h('span', { style: 'width:' + Math.min(100, ratio * 100).toFixed(0) + '%' })), (ratio * 100).toFixed(1) + '%'),
          h('td', { class: 'num', 'data-col': 'hagap' }, b.haGap === null || b.haGap === undefined ? '—' : num(b.haGap)),
          h('td', { class: 'num', 'data-col': 'today' }, num(b.putToday)),
        ]);
    });
    document.getElementById('cluster-body').replaceChildren(table([
      'Cluster', 'Broker', { label: 'ID', num: true }, 'Role', 'Address', 'Version',
      { label: 'In TPS', num: true }, { label: 'Out TPS', num: true }, 'Disk', { label: 'HA gap (bytes)', num: true },
      { label: 'Put today', num: true }], rows, 'brokers'));
    main.querySelector('[data-testid=updated]').textContent = 'updated ' + fmtTime(Date.now()) + ' · name servers ' + c.namesrv;
    showError('');
  };
  await refresh();
  state.timer = setInterval(() => refresh().catch((e) => showError(e.message)), 5000);
}

// ----- topics --------------------------------------------------------------------------------

let clustersCache = null;
async function clusterNames() {
  if (!clustersCache) clustersCache = (await api('/api/cluster')).clusters;
  return clustersCache;
}

function topicForm(prefill, onDone) {
  const f = h('form', { class: 'inline', 'data-testid': 'topic-form' });
  const cluster = h('select', { name: 'cluster', 'data-testid': 'topic-cluster' });
  clusterNames().then((cs) => cs.forEach((c) => cluster.append(h('option', { value: c }, c)))).catch((e) => showError(e.message));
  const name = h('input', { name: 'topic', 'data-testid': 'topic-name', required: true, value: prefill.topic || '', placeholder: 'TopicName' });
  if (prefill.topic) name.readOnly = true;
  const rq = h('input', { name: 'read', type: 'number', min: 1, max: 1024, value: prefill.read || 8, style: 'width:80px' });
  const wq = h('input', { name: 'write', type: 'number', min: 1, max: 1024, value: prefill.write || 8, style: 'width:80px' });
  const perm = h('select', { name: 'perm' }, [['6', 'read-write'], ['4', 'read only'], ['2', 'write only']].map(([v, l]) =>
    h('option', { value: v, selected: String(prefill.perm || 6) === v }, l)));
  const order = h('input', { type: 'checkbox', name: 'order' });
  const submit = writeButton(prefill.topic ? 'Update topic' : 'Create topic', { class: 'primary', 'data-testid': 'topic-submit' }, async () => {
    const body = { cluster: cluster.value, topic: name.value.trim(), readQueueNums: +rq.value, writeQueueNums: +wq.value, perm: +perm.value, order: order.checked };
    if (!body.topic) { showError('A topic name is required.'); return; }
    const r = await act((prefill.topic ? 'Update' : 'Create') + ' topic ' + body.topic + ' on cluster ' + body.cluster +
      ' with ' + body.readQueueNums + '/' + body.writeQueueNums + ' queues?', null, () => api('/api/topic/update', body));
    if (r) {
      notice('Topic ' + body.topic + ' saved on ' + r.masters.join(', ') +
        '. Routes show it after the brokers\' next registration with the name servers (within 30 s).');
      onDone(body.topic);
    }
  });
  f.append(h('label', {}, 'Cluster', cluster), h('label', {}, 'Topic', name), h('label', {}, 'Read queues', rq),
    h('label', {}, 'Write queues', wq), h('label', {}, 'Permission', perm), h('label', {}, 'Ordered', order), submit);
  f.addEventListener('submit', (e) => e.preventDefault());
  return f;
}

async function pageTopics(main) {
  const topics = await api('/api/topics');
  const filter = h('input', { type: 'search', placeholder: 'filter by name', 'data-testid': 'topic-filter', style: 'width:260px' });
  const kinds = { normal: true, retry: false, dlq: true, system: false };
  const boxes = Object.keys(kinds).map((k) => {
    const cb = h('input', { type: 'checkbox', checked: kinds[k], 'data-kind': k });
    cb.addEventListener('change', () => { kinds[k] = cb.checked; draw(); });
    return h('label', {}, cb, ' ', k);
  });
  const body = h('div', {});
  const count = h('span', { class: 'muted', 'data-testid': 'topic-count' });
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = topics.filter((t) => kinds[t.kind] && t.topic.toLowerCase().includes(q));
    count.textContent = shown.length + ' of ' + topics.length + ' topics';
    body.replaceChildren(table(['Topic', 'Kind'], shown.map((t) => h('tr', { 'data-topic': t.topic },
      h('td', {}, h('a', { href: '#topic/' + encodeURIComponent(t.topic) }, t.topic)),
      h('td', {}, h('span', { class: 'badge ' + t.kind }, t.kind)))), 'topics'));
  };
  filter.addEventListener('input', draw);
  main.replaceChildren(h('h1', {}, 'Topics'),
    h('div', { class: 'card' }, h('h2', { style: 'margin-top:0' }, 'Create or update a topic'), topicForm({}, () => route())),
    h('div', { class: 'toolbar' }, filter, boxes, h('span', { class: 'grow' }), count), body);
  draw();
}

async function pageTopic(main, topic) {
  const t = await api('/api/topic?topic=' + encodeURIComponent(topic));
  const route = table(['Broker', 'Cluster', 'Addresses', { label: 'Read queues', num: true }, { label: 'Write queues', num: true }, 'Perm'],
    t.route.map((b) => h('tr', {}, h('td', {}, b.brokerName), h('td', {}, b.cluster),
      h('td', { class: 'mono' }, Object.entries(b.addrs).map(([id, a]) => id + '=' + a).join(' ')),
      h('td', { class: 'num' }, b.readQueueNums), h('td', { class: 'num' }, b.writeQueueNums), h('td', {}, b.perm))), 'route');
  const queues = table(['Broker', { label: 'Queue', num: true }, { label: 'Min offset', num: true }, { label: 'Max offset', num: true },
    { label: 'Messages', num: true }, 'Last stored'],
    t.queues.map((q) => h('tr', { 'data-queue': q.brokerName + ':' + q.queueId }, h('td', {}, q.brokerName), h('td', { class: 'num' }, q.queueId),
      h('td', { class: 'num', 'data-col': 'min' }, q.minOffset), h('td', { class: 'num', 'data-col': 'max' }, q.maxOffset),
      h('td', { class: 'num' }, q.maxOffset - q.minOffset), h('td', {}, fmtTime(q.lastUpdate)))), 'queues');
  const first = t.route[0] || {};
  const sendResult = h('div', { 'data-testid': 'send-result', class: 'muted' });
  const tag = h('input', { placeholder: 'tag', style: 'width:120px', 'data-testid': 'send-tag' });
  const key = h('input', { placeholder: 'key', style: 'width:160px', 'data-testid': 'send-key' });
  const bodyIn = h('input', { placeholder: 'message body', style: 'width:360px', 'data-testid': 'send-body', value: 'hello from the console' });
  const send = writeButton('Send', { class: 'primary', 'data-testid': 'send-submit' }, async () => {
    showError('');
    try {
      const r = await api('/api/topic/send', { topic, tag: tag.value, key: key.value, body: bodyIn.value });
      sendResult.textContent = r.status + ': id ' + r.msgId + ' → ' + r.brokerName + ' queue ' + r.queueId + ' offset ' + r.queueOffset;
    } catch (e) { showError(e.message); }
  });
  const del = writeButton('Delete topic', { class: 'danger', 'data-testid': 'topic-delete' }, async () => {
    const cluster = first.cluster || (await clusterNames())[0];
    const r = await act('Delete topic ' + topic + ' from cluster ' + cluster + '? Its messages become unreachable.', topic,
      () => api('/api/topic/delete', { cluster, topic }));
    if (r) { notice('Topic ' + topic + ' deleted.'); location.hash = '#topics'; }
  });
  main.replaceChildren(
    h('div', { class: 'toolbar' }, h('a', { href: '#topics' }, '← Topics'), h('span', { class: 'grow' }), del),
    h('h1', { 'data-testid': 'topic-title' }, topic),
    h('p', { class: 'muted' }, 'Messages stored: ', h('b', { 'data-testid': 'stored' }, num(t.stored)), ' in ', t.queues.length, ' queues'),
    h('h2', {}, 'Route'), route,
    h('h2', {}, 'Queues and offsets'), queues,
    h('div', { class: 'card', style: 'margin-top:14px' }, h('h2', { style: 'margin-top:0' }, 'Update'),
      topicForm({ topic, read: first.readQueueNums, write: first.writeQueueNums, perm: first.perm }, () => route_())),
    h('div', { class: 'card' }, h('h2', { style: 'margin-top:0' }, 'Send a test message'),
      h('div', { class: 'toolbar' }, tag, key, bodyIn, send), sendResult));
}

// ----- consumer groups -----------------------------------------------------------------------

async function pageGroups(main) {
  const groups = await api('/api/groups');
  const filter = h('input', { type: 'search', placeholder: 'filter by name', 'data-testid': 'group-filter', style: 'width:260px' });
  const body = h('div', {});
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    body.replaceChildren(table(['Group', { label: 'Members', num: true }, 'Type', 'Model', { label: 'Consume TPS', num: true }, { label: 'Lag', num: true }],
      groups.filter((g) => g.group.toLowerCase().includes(q)).map((g) => h('tr', { 'data-group': g.group },
        h('td', {}, h('a', { href: '#group/' + encodeURIComponent(g.group) }, g.group)),
        h('td', { class: 'num' }, g.count), h('td', {}, g.consumeType || (g.count ? '' : 'offline')), h('td', {}, g.model),
        h('td', { class: 'num' }, fmt2(g.tps)), h('td', { class: 'num', 'data-col': 'lag' }, g.diff))), 'groups'));
  };
  filter.addEventListener('input', draw);
  main.replaceChildren(h('h1', {}, 'Consumer groups'), h('div', { class: 'toolbar' }, filter), body);
  draw();
}

async function pageGroup(main, group) {
  const g = await api('/api/group?group=' + encodeURIComponent(group));
  const topics = [...new Set(g.queues.map((q) => q.topic).filter((t) => !t.startsWith('%RETRY%')))];
  const members = g.members.length
    ? table(['Client id', 'Address', 'Language', { label: 'Version', num: true }], g.members.map((m) => h('tr', {},
      h('td', { class: 'mono' }, m.clientId), h('td', { class: 'mono' }, m.clientAddr), h('td', {}, m.language), h('td', { class: 'num' }, m.version))), 'members')
    : h('p', { class: 'muted', 'data-testid': 'members' }, g.membersNote || 'No member online.');
  const subs = Object.entries(g.subscriptions);
  const progress = table(['Topic', 'Broker', { label: 'Queue', num: true }, { label: 'Broker offset', num: true },
    { label: 'Consumer offset', num: true }, { label: 'Lag', num: true }, 'Last consumed'],
    g.queues.map((q) => h('tr', { 'data-queue': q.topic + ':' + q.brokerName + ':' + q.queueId },
      h('td', {}, q.topic), h('td', {}, q.brokerName), h('td', { class: 'num' }, q.queueId),
      h('td', { class: 'num', 'data-col': 'broker' }, q.brokerOffset), h('td', { class: 'num', 'data-col': 'consumer' }, q.consumerOffset),
      h('td', { class: 'num', 'data-col': 'lag' }, q.diff), h('td', {}, fmtTime(q.lastTimestamp)))), 'progress');
  const topicSel = h('select', { 'data-testid': 'reset-topic' }, topics.map((t) => h('option', { value: t }, t)));
  const when = h('input', { type: 'datetime-local', 'data-testid': 'reset-time', value: toLocalInput(Date.now() - 3600000) });
  const reset = writeButton('Reset offset', { 'data-testid': 'reset-submit' }, async () => {
    const ts = new Date(when.value).getTime();
    if (!topicSel.value || isNaN(ts)) { showError('Pick a topic and a time.'); return; }
    const r = await act('Reset ' + group + ' on ' + topicSel.value + ' to ' + fmtTime(ts) + '? Online consumers jump there.', null,
      () => api('/api/group/reset', { group, topic: topicSel.value, timestamp: ts }));
    if (r) { notice('Offsets of ' + r.offsets.length + ' queues reset.'); route(); }
  });
  const skip = writeButton('Skip backlog', { class: 'danger', 'data-testid': 'skip-submit' }, async () => {
    const r = await act('Skip the whole backlog of ' + group + ' (every topic)? Unconsumed messages will not be delivered.', group,
      () => api('/api/group/skip', { group }));
    if (r) { notice('Backlog skipped on ' + r.offsets.length + ' queues.'); route(); }
  });
  main.replaceChildren(
    h('div', { class: 'toolbar' }, h('a', { href: '#groups' }, '← Consumer groups')),
    h('h1', { 'data-testid': 'group-title' }, group),
    h('p', { class: 'muted' }, 'Consume TPS ', h('b', { 'data-testid': 'group-tps' }, fmt2(g.consumeTps)),
      ' · total lag ', h('b', { 'data-testid': 'group-lag' }, g.diffTotal)),
    h('div', { class: 'grid2' },
      h('div', {}, h('h2', {}, 'Members'), members),
      h('div', {}, h('h2', {}, 'Subscriptions'), table(['Topic', 'Expression'], subs.map(([t, e]) => h('tr', {}, h('td', {}, t), h('td', { class: 'mono' }, e))), 'subscriptions'))),
    h('h2', {}, 'Progress per queue'), progress,
    h('div', { class: 'card', style: 'margin-top:14px' }, h('h2', { style: 'margin-top:0' }, 'Offsets'),
      h('div', { class: 'toolbar' }, h('label', {}, 'Topic ', topicSel), h('label', {}, 'to ', when), reset, h('span', { class: 'grow' }), skip)));
}

// ----- messages ------------------------------------------------------------------------------

async function pageMessages(main, params) {
  let mode = params.get('mode') || 'time';
  const topic = h('input', { placeholder: 'topic', list: 'topic-list', 'data-testid': 'msg-topic', value: params.get('topic') || '', style: 'width:240px' });
  const list = h('datalist', { id: 'topic-list' });
  api('/api/topics').then((ts) => ts.forEach((t) => list.append(h('option', { value: t.topic })))).catch(() => {});
  const idIn = h('input', { placeholder: 'message id (unique or offset id)', 'data-testid': 'msg-id', style: 'width:340px' });
  const keyIn = h('input', { placeholder: 'key', 'data-testid': 'msg-key', style: 'width:200px' });
  const begin = h('input', { type: 'datetime-local', 'data-testid': 'msg-begin', value: toLocalInput(Date.now() - 3600000) });
  const end = h('input', { type: 'datetime-local', 'data-testid': 'msg-end', value: toLocalInput(Date.now() + 60000) });
  const results = h('div', { 'data-testid': 'msg-results' });
  const detail = h('div', { 'data-testid': 'msg-detail' });
  const fields = h('div', { class: 'toolbar' });
  const tabs = h('div', { class: 'tabs' });
  const drawForm = () => {
    tabs.replaceChildren(...[['time', 'By time range'], ['key', 'By key'], ['id', 'By id']].map(([m, l]) =>
      h('button', { type: 'button', class: m === mode ? 'on' : '', 'data-mode': m, onclick: () => { mode = m; drawForm(); } }, l)));
    fields.replaceChildren(...[topic, mode === 'id' ? idIn : null, mode === 'key' ? keyIn : null,
      mode !== 'id' ? h('label', {}, 'from ', begin) : null, mode !== 'id' ? h('label', {}, 'to ', end) : null,
      h('button', { type: 'button', class: 'primary', 'data-testid': 'msg-search', onclick: search }, 'Search')].filter(Boolean));
  };
  async function search() {
    showError('');
    detail.replaceChildren();
    const q = new URLSearchParams({ topic: topic.value.trim() });
    if (mode === 'id') q.set('id', idIn.value.trim());
    if (mode === 'key') q.set('key', keyIn.value.trim());
    if (mode !== 'id') { q.set('begin', new Date(begin.value).getTime()); q.set('end', new Date(end.value).getTime()); }
    try {
      const msgs = await api('/api/messages?' + q);
      results.replaceChildren(h('p', { class: 'muted' }, msgs.length + ' message(s)'), table(['Message id', 'Topic', 'Tags', 'Keys', { label: 'Queue', num: true },
        { label: 'Offset', num: true }, 'Stored', { label: 'Size', num: true }, ''],
        msgs.map((m) => h('tr', { 'data-msg': m.msgId }, h('td', { class: 'mono' }, m.msgId), h('td', {}, m.topic), h('td', {}, m.tags), h('td', {}, m.keys),
          h('td', { class: 'num' }, m.queueId), h('td', { class: 'num' }, m.queueOffset), h('td', {}, fmtTime(m.storeTimestamp)),
          h('td', { class: 'num' }, m.bodySize), h('td', {}, h('button', { type: 'button', 'data-testid': 'msg-view', onclick: () => view(m) }, 'View'))))
        , 'messages'));
    } catch (e) { showError(e.message); results.replaceChildren(); }
  }
  async function view(m) {
    showError('');
    try {
      const d = await api('/api/message?topic=' + encodeURIComponent(m.topic) + '&id=' + encodeURIComponent(m.offsetMsgId));
      const bodyPre = h('pre', { 'data-testid': 'msg-body' }, d.bodyText);
      const asText = h('button', { type: 'button', class: 'on', onclick: () => { bodyPre.textContent = d.bodyText; asText.className = 'on'; asHex.className = ''; } }, 'Text');
      const asHex = h('button', { type: 'button', 'data-testid': 'msg-hex', onclick: () => { bodyPre.textContent = d.bodyHex; asHex.className = 'on'; asText.className = ''; } }, 'Hex');
      const isDlq = d.topic.startsWith('%DLQ%');
      const dest = h('input', { placeholder: isDlq ? '%RETRY%' + d.topic.slice(5) + ' (default)' : d.topic, 'data-testid': 'resend-topic', style: 'width:240px' });
      const resendOut = h('span', { class: 'muted', 'data-testid': 'resend-result' });
      const resend = writeButton('Resend', { class: 'primary', 'data-testid': 'resend-submit' }, async () => {
        const target = dest.value.trim() || (isDlq ? '%RETRY%' + d.topic.slice(5) : d.topic);
        const r = await act('Resend message ' + d.msgId + ' to ' + target + '?', null,
          () => api('/api/message/resend', { offsetMsgId: d.offsetMsgId, topic: dest.value.trim() }));
        if (r) resendOut.textContent = 'Resent to ' + r.toTopic + ' as ' + r.msgId + ' (queue ' + r.queueId + ', offset ' + r.queueOffset + ')';
      });
      detail.replaceChildren(h('div', { class: 'card', style: 'margin-top:14px' },
        h('h2', { style: 'margin-top:0' }, 'Message ', h('span', { class: 'mono' }, d.msgId)),
        h('div', { class: 'grid2' },
          h('dl', { class: 'kv' }, [['Topic', d.topic], ['Offset id', d.offsetMsgId], ['Tags', d.tags], ['Keys', d.keys],
            ['Queue', d.brokerName + ' / ' + d.queueId + ' @ ' + d.queueOffset], ['Born', fmtTime(d.bornTimestamp) + ' from ' + d.bornHost],
            ['Stored', fmtTime(d.storeTimestamp) + ' on ' + d.storeHost], ['Reconsumed', d.reconsumeTimes]].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
          h('div', {}, table(['Property', 'Value'], Object.entries(d.properties).map(([k, v]) => h('tr', {}, h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, v))), 'properties'))),
        h('h2', {}, 'Body (' + d.bodySize + ' bytes' + (d.bodyTruncated ? ', cut' : '') + ')'), h('div', { class: 'tabs' }, asText, asHex), bodyPre,
        h('h2', {}, 'Trace'), d.trace.length ? d.trace.map((t) => h('pre', {}, t)) : h('p', { class: 'muted' }, 'No trace recorded for this message.'),
        h('h2', {}, 'Resend'), h('div', { class: 'toolbar' }, dest, resend, resendOut)));
    } catch (e) { showError(e.message); }
  }
  drawForm();
  main.replaceChildren(h('h1', {}, 'Messages'), list, tabs, fields, results, detail);
  if (params.get('topic')) await search();
}

// ----- charts --------------------------------------------------------------------------------

const COLORS = ['#2566d8', '#d8652a', '#3d8b40', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d', '#b7950b'];

function lineChart(title, series, unit, testid) {
  // series: [{name, points: [[t, v], ...]}]; time on x, values from 0 on y.
  const W = 1000, H = 260, L = 60, R = 16, T = 14, B = 28;
  const all = series.flatMap((s) => s.points);
  const now = Date.now();
  const t0 = all.length ? Math.min(...all.map((p) => p[0])) : now - 3600000;
  const t1 = all.length ? Math.max(now, ...all.map((p) => p[0])) : now;
  const vmax = Math.max(1, ...all.map((p) => p[1])) * 1.1;
  const x = (t) => L + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / vmax) * (H - T - B);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  for (let i = 0; i <= 4; i++) {
    const v = (vmax / 4) * i;
    g.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e3e7ee' }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#6b7486' }, v >= 100 ? v.toFixed(0) : v.toFixed(1)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) / 4) * i;
    const d = new Date(t);
    const label = pad(d.getHours()) + ':' + pad(d.getMinutes()) + (t1 - t0 < 600000 ? ':' + pad(d.getSeconds()) : '');
    g.append(svg('text', { x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', 'font-size': 11, fill: '#6b7486' }, label));
  }
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => (j ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
    g.append(svg('path', { d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke', 'data-series': s.name }));
  });
  const legend = h('div', { class: 'legend' }, series.map((s, i) => h('span', {}, h('i', { style: 'background:' + COLORS[i % COLORS.length] }),
    s.name + ' (now ' + (s.points.length ? fmt2(s.points[s.points.length - 1][1]) : '—') + (unit ? ' ' + unit : '') + ')')));
  return h('div', { class: 'card chart', 'data-testid': testid }, h('h2', { style: 'margin-top:0' }, title), g,
    series.length ? legend : h('p', { class: 'muted' }, 'No data yet.'));
}

async function pageCharts(main) {
  main.replaceChildren(h('h1', {}, 'Charts'), h('p', { class: 'muted', 'data-testid': 'charts-note' }), h('div', { id: 'charts-body' }));
  const refresh = async () => {
    const c = await api('/api/charts');
    const s = c.samples;
    const groups = [...new Set(s.flatMap((x) => Object.keys(x.lag)))].sort();
    main.querySelector('[data-testid=charts-note]').textContent = s.length + ' samples, one every ' + (c.intervalMs / 1000) +
      ' s, the last ' + Math.round(c.windowMs / 60000) + ' minutes kept in memory' + (s.length && s[s.length - 1].error ? ' · last sample: ' + s[s.length - 1].error : '');
    document.getElementById('charts-body').replaceChildren(
      lineChart('Messages per second', [
        { name: 'in (put)', points: s.map((x) => [x.t, x.inTps]) },
        { name: 'out (delivered)', points: s.map((x) => [x.t, x.outTps]) }], 'msg/s', 'chart-tps'),
      lineChart('Consumer lag', groups.map((g) => ({ name: g, points: s.filter((x) => g in x.lag).map((x) => [x.t, x.lag[g]]) })), '', 'chart-lag'));
  };
  await refresh();
  state.timer = setInterval(() => refresh().catch((e) => showError(e.message)), 10000);
}

// ----- routing -------------------------------------------------------------------------------

let route_ = () => {};
async function route() {
  if (state.timer) { clearInterval(state.timer); state.timer = null; }
  const main = document.getElementById('main');
  const raw = location.hash.slice(1) || 'cluster';
  const [pathPart, queryPart] = raw.split('?');
  const [page, ...rest] = pathPart.split('/');
  const arg = decodeURIComponent(rest.join('/'));
  const params = new URLSearchParams(queryPart || '');
  const navPage = { topic: 'topics', group: 'groups' }[page] || page;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === navPage));
  const pages = { cluster: pageCluster, topics: pageTopics, topic: pageTopic, groups: pageGroups, group: pageGroup, messages: pageMessages, charts: pageCharts };
  const fn = pages[page];
  main.dataset.page = page;
  main.dataset.ready = 'false';
  showError('');
  if (!fn) { main.replaceChildren(h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '#cluster' }, 'Go to the cluster'))); main.dataset.ready = 'true'; return; }
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    await fn(main, page === 'messages' ? params : arg);
  } catch (e) {
    // The page could not be built: say so in the page as well as in the banner.
    showError(e.message);
    const back = { topic: ['#topics', 'Topics'], group: ['#groups', 'Consumer groups'] }[page];
    main.replaceChildren(...[h('h1', {}, arg || (navPage[0].toUpperCase() + navPage.slice(1))),
      h('p', { class: 'bad', 'data-testid': 'page-error' }, 'This page cannot be shown: ' + e.message),
      back ? h('p', {}, h('a', { href: back[0] }, '← ' + back[1])) : null].filter(Boolean));
  }
  main.dataset.ready = 'true';
}
route_ = route;

async function start() {
  try {
    const s = await api('/api/session');
    state.readOnly = s.readOnly;
    state.namesrv = s.namesrv;
  } catch (e) {
    showError(e.message);
  }
  renderSession();
  window.addEventListener('hashchange', () => { notice(''); route(); });
  route();
}

start();
