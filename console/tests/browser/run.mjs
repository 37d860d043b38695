// Drives Debian's chromium (playwright-core, no downloaded browser) through the console at
// $CONSOLE_URL: every page loads without an error banner and without horizontal overflow at
// 1280x800 (page and every table), a topic is created and a DLQ message resent by clicking,
// and the figures the pages show are printed as one `RESULT {json}` line for the Rust test to
// compare with mqadmin. Any failed check exits non-zero with the reason.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.CONSOLE_URL;
const token = process.env.CONSOLE_TOKEN;
const topic = process.env.TOPIC;
const group = process.env.GROUP;
const dlq = process.env.DLQ;
const newTopic = process.env.NEW_TOPIC || 'BrowserT';
const shots = process.env.SCREENSHOT_DIR || 'screenshots';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // What works on this machine (no sandbox as root, no GPU, no calls to Google's hosts).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
// The deliberate failures (a missing topic, a wrong token) log "Failed to load resource" for
// their 404 and 401 answers; anything else the page logs as an error is a failure.
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
});

async function open(hash) {
  // A fresh load each time, so a page's readiness flag is never the previous page's.
  await page.goto('about:blank');
  await page.goto(url + '/' + hash);
  await page.waitForSelector('main[data-ready=true]', { timeout: 20000 });
}

async function errorBanner() {
  return page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
}

async function layout(name) {
  // Nothing wider than the window: the page, and each table within its container.
  const r = await page.evaluate(() => {
    const doc = document.documentElement;
    const tables = [...document.querySelectorAll('table')].map((t) => ({
      id: t.dataset.testid || '?',
      scroll: t.scrollWidth,
      client: t.parentElement.clientWidth,
      right: t.getBoundingClientRect().right,
    }));
    return { scroll: doc.scrollWidth, client: doc.clientWidth, width: window.innerWidth, tables };
  });
  check(r.scroll <= r.client, `${name}: page fits the window (scrollWidth ${r.scroll} <= clientWidth ${r.client})`);
  for (const t of r.tables) {
    check(t.scroll <= t.client + 1 && t.right <= r.width,
      `${name}: table ${t.id} fits (scrollWidth ${t.scroll}, container ${t.client}, right edge ${Math.round(t.right)})`);
  }
  await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
  return r;
}

async function pageLoads(hash, name, mustContain) {
  await open(hash);
  const err = await errorBanner();
  check(err === '', `${name}: no error banner (${err})`);
  const text = await page.textContent('main');
  for (const m of mustContain) check(text.includes(m), `${name}: shows ${m}`);
  await layout(name);
}

const result = {};
try {
  // Every page loads (read-only view before logging in).
  await pageLoads('#cluster', 'cluster', ['broker-a', 'DefaultCluster']);
  result.brokers = await page.$$eval('table[data-testid=brokers] tbody tr', (rows) => rows.map((r) => ({
    broker: r.dataset.broker,
    addr: r.querySelector('[data-col=addr]')?.textContent,
    version: r.querySelector('[data-col=version]')?.textContent,
  })));
  await pageLoads('#topics', 'topics', [topic, dlq]);
  await page.fill('[data-testid=topic-filter]', topic);
  const filtered = await page.$$eval('table[data-testid=topics] tbody tr', (rows) => rows.map((r) => r.dataset.topic));
  check(filtered.includes(topic) && !filtered.includes(dlq), `topics: filter keeps ${topic} only (${filtered})`);
  await pageLoads('#topic/' + encodeURIComponent(topic), 'topic', [topic, 'Queues and offsets']);
  result.queues = await page.$$eval('table[data-testid=queues] tbody tr', (rows) => rows.map((r) => ({
    queue: r.dataset.queue,
    min: Number(r.querySelector('[data-col=min]').textContent),
    max: Number(r.querySelector('[data-col=max]').textContent),
  })));
  await pageLoads('#groups', 'groups', [group]);
  result.groupLagInList = Number(await page.textContent(`tr[data-group="${group}"] [data-col=lag]`));
  await pageLoads('#group/' + encodeURIComponent(group), 'group', [group, 'Progress per queue']);
  result.groupLag = Number(await page.textContent('[data-testid=group-lag]'));
  result.progress = await page.$$eval('table[data-testid=progress] tbody tr', (rows) => rows.map((r) => ({
    queue: r.dataset.queue,
    lag: Number(r.querySelector('[data-col=lag]').textContent),
  })));
  await pageLoads('#messages', 'messages', ['Messages']);
  await pageLoads('#charts', 'charts', ['Messages per second', 'Consumer lag']);
  const paths = await page.$$eval('svg path[data-series]', (p) => p.length);
  check(paths >= 2, `charts: lines drawn (${paths})`);

  // An error is a readable message in the page, not a blank page.
  await open('#topic/NoSuchTopic');
  const err = await errorBanner();
  check(err.includes('No route info'), `missing topic: readable error (${err})`);
  await layout('error');

  // Log in with the token (a wrong one is refused first).
  await open('#topics');
  await page.click('[data-testid=login]');
  await page.fill('[data-testid=token-input]', 'wrong');
  await page.click('#modal-ok');
  await page.waitForSelector('[data-testid=login-error]');
  check((await page.textContent('[data-testid=login-error]')).includes('wrong token'), 'login: wrong token refused');
  await page.fill('[data-testid=token-input]', token);
  await page.click('#modal-ok');
  await page.waitForSelector('[data-testid=logout]');

  // Create a topic by clicking, with the confirmation.
  await page.waitForSelector('[data-testid=topic-cluster] option', { state: 'attached' });
  await page.fill('[data-testid=topic-name]', newTopic);
  await page.fill('input[name=read]', '2');
  await page.fill('input[name=write]', '2');
  await page.click('[data-testid=topic-submit]');
  await page.waitForSelector('#modal:not([hidden])');
  const question = await page.textContent('#modal-body');
  check(question.includes(newTopic), `create: confirmation names the topic (${question})`);
  await page.click('#modal-ok');
  await page.waitForFunction(() => !document.getElementById('notice').hidden, null, { timeout: 20000 });
  check((await page.textContent('#notice')).includes(newTopic), 'create: notice shown');
  // The route reaches the name server at the broker's next registration.
  let routed = false;
  for (let i = 0; i < 40 && !routed; i++) {
    await open('#topic/' + newTopic);
    routed = (await errorBanner()) === '' && (await page.$$('table[data-testid=queues] tbody tr[data-queue]')).length === 2;
    if (!routed) await page.waitForTimeout(500);
  }
  check(routed, `create: ${newTopic} shows 2 queues`);
  await layout('topic-created');
  // Send a test message to it.
  await page.click('[data-testid=send-submit]');
  await page.waitForFunction(() => document.querySelector('[data-testid=send-result]').textContent.length > 0, null, { timeout: 20000 });
  const sent = await page.textContent('[data-testid=send-result]');
  check(sent.startsWith('SendOk'), `send: ${sent}`);

  // Resend the DLQ message by clicking.
  await open('#messages?mode=time&topic=' + encodeURIComponent(dlq));
  await page.waitForSelector('table[data-testid=messages] [data-testid=msg-view]', { timeout: 20000 });
  await page.click('[data-testid=msg-view]');
  await page.waitForSelector('[data-testid=msg-body]');
  const body = await page.textContent('[data-testid=msg-body]');
  check(body === 'body-0', `dlq: body shown as text (${body})`);
  await page.click('[data-testid=msg-hex]');
  const hex = await page.textContent('[data-testid=msg-body]');
  check(hex === '62 6f 64 79 2d 30', `dlq: body shown as hex (${hex})`);
  await page.click('[data-testid=resend-submit]');
  await page.waitForSelector('#modal:not([hidden])');
  await page.click('#modal-ok');
  await page.waitForFunction(() => document.querySelector('[data-testid=resend-result]').textContent.length > 0, null, { timeout: 20000 });
  const resent = await page.textContent('[data-testid=resend-result]');
  result.resentTo = resent;
  check(resent.includes('%RETRY%' + group), `dlq: resent (${resent})`);
  await layout('message-detail');

  check(consoleErrors.length === 0, `no script errors (${consoleErrors.join(' | ')})`);
} catch (e) {
  failures.push('exception: ' + (e && e.stack ? e.stack : e));
  await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify(result));
if (failures.length) {
  console.log(failures.length + ' check(s) failed:\n' + failures.join('\n'));
  process.exit(1);
}
console.log('all browser checks passed');
