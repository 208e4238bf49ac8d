// cairn serve's web page in real headless Chromium (Debian's /usr/bin/chromium),
// driven by playwright-core. run.sh starts the server with tests/e2e/policy.yaml
// and passes BASE_URL and SHOT_DIR. Every step takes a screenshot into SHOT_DIR.
// usage: node web.test.mjs  (exit 0 when every check passed)
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const base = process.env.BASE_URL;
const shots = process.env.SHOT_DIR;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!base || !shots) {
  console.error('web.test.mjs: BASE_URL and SHOT_DIR must be set (run it through run.sh)');
  process.exit(2);
}

const ALICE = 'main/alice-pr-7';
const BOB = 'main/bob-demo';
const XSS = "<script>alert('xss')</script><img src=x onerror=alert(2)>";

let step = 0;
let passed = 0;
const dialogs = [];

async function check(page, name, fn) {
  step++;
  try {
    await fn();
    passed++;
    console.log(`ok ${step} - ${name}`);
  } catch (e) {
    console.log(`not ok ${step} - ${name}`);
    throw e;
  } finally {
    const file = path.join(shots, `${String(step).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  }
}

async function api(token, method, p) {
  const res = await fetch(base + p, { method, headers: token ? { Authorization: 'Bearer ' + token } : {} });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  return { status: res.status, body };
}

const row = (page, id) => page.locator(`#environments tbody tr[data-id="${id}"]`);

async function login(page, user, password) {
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/login'));
  await page.click('#login-submit');
  return (await answer).status();
}

async function logout(page) {
  await page.click('#logout');
  await page.locator('#login-view').waitFor({ state: 'visible' });
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss();
  });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(15000);

  await page.goto(base + '/');

  await check(page, 'wrong password is refused', async () => {
    await page.locator('#login-view').waitFor({ state: 'visible' });
    assert.equal(await login(page, 'Alice', 'not-the-password'), 401);
    await page.locator('#login-error').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#login-error'), /wrong user name or password/i);
    assert.equal(await page.isVisible('#app-view'), false);
  });

  await check(page, 'right password logs in', async () => {
    assert.equal(await login(page, 'Alice', 'demo'), 200);
    await page.locator('#app-view').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#who'), /Alice/);
  });

  let aliceExpiry;
  await check(page, 'environments list owner and expiry', async () => {
    await row(page, ALICE).waitFor();
    assert.equal(await page.locator('#environments tbody tr').count(), 2);
    assert.equal((await row(page, ALICE).locator('td.owner').textContent()).trim(), 'Alice');
    assert.equal((await row(page, BOB).locator('td.owner').textContent()).trim(), 'Bob');
    assert.match(await row(page, ALICE).locator('td.pr').textContent(), /#7 · feature\/cart · acme\/shop/);
    aliceExpiry = (await row(page, ALICE).locator('td.expiry').textContent()).trim();
    assert.match(aliceExpiry, /UTC \(in 3 d\)/);
    assert.equal((await row(page, BOB).locator('td.expiry').textContent()).trim(), 'pinned');
    assert.match(await row(page, ALICE).locator('td.env-state').textContent(), /unknown/);
    assert.equal((await row(page, ALICE).locator('td.contract').textContent()).trim(), 'shop');
  });

  await check(page, 'a script label is shown as text', async () => {
    const text = await row(page, BOB).locator('td.pr').textContent();
    assert.ok(text.includes(XSS), `the label is shown literally, got: ${text}`);
    assert.equal(await page.locator('#environments script, #environments img').count(), 0);
    assert.deepEqual(dialogs, []);
  });

  let token = await page.evaluate(() => sessionStorage.getItem('cairn.token'));
  const before = await api(token, 'GET', '/api/v1/environments');
  const deadlineBefore = before.body.environments.find((e) => e.id === ALICE).deadline;

  await check(page, 'extend moves the expiry and is a new revision', async () => {
    await row(page, ALICE).locator('button.extend').click();
    await page.locator('#message.info').waitFor();
    assert.match(await page.textContent('#message'), /main\/alice-pr-7 extended: generation 2/);
    await page.waitForFunction((old) => {
      const td = document.querySelector('#environments tr[data-id="main/alice-pr-7"] td.expiry');
      return td && td.textContent.trim() !== old;
    }, aliceExpiry);
    assert.match(await row(page, ALICE).locator('td.expiry').textContent(), /UTC \(in 4 d\)/);
    const after = await api(token, 'GET', '/api/v1/environments');
    const a = after.body.environments.find((e) => e.id === ALICE);
    assert.equal(Date.parse(a.deadline) - Date.parse(deadlineBefore), 24 * 3600 * 1000);
    assert.equal(a.ttl, null);
    assert.match(await page.locator('#revisions li').first().textContent(), /generation 2: extend by Alice/);
    await page.locator('#job-status .job').waitFor();
    assert.match(await page.textContent('#job-status'), /reconcile job \d+: (queued|running|done|failed)/);
  });

  await check(page, 'the revision diff shows the change', async () => {
    await page.locator('#revisions li').first().locator('summary').click();
    const diff = page.locator('#revisions li').first().locator('.diff');
    await diff.locator('pre').waitFor();
    assert.match(await diff.locator('h4').first().textContent(), /updated dependency main\/alice-pr-7/);
    const added = await diff.locator('.line.add').allTextContents();
    const removed = await diff.locator('.line.del').allTextContents();
    assert.ok(added.some((l) => /"expires": "20\d\d-/.test(l)), `added lines: ${added}`);
    assert.ok(removed.some((l) => /"ttl": "72h"/.test(l)), `removed lines: ${removed}`);
    const color = await diff.locator('.line.add').first().evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.notEqual(color, 'rgba(0, 0, 0, 0)');
  });

  await check(page, 'the graph shows the instances', async () => {
    await row(page, ALICE).locator('button.graph').click();
    await page.locator('#graph svg g.node').first().waitFor();
    assert.equal(await page.textContent('#graph-title'), ALICE);
    const keys = await page.locator('#graph svg g.node').evaluateAll((ns) => ns.map((n) => n.getAttribute('data-key')).sort());
    assert.deepEqual(keys, [
      'e2e-nowhere#main#shop#preview#alice-pr-7#db',
      'e2e-nowhere#main#shop#preview#alice-pr-7#root',
      'e2e-nowhere#main#shop#preview#alice-pr-7#web',
    ]);
    assert.equal(await page.locator('#graph svg path.edge').count(), 3);
    // Layers: the service above web, web above db (db is what web needs).
    const y = async (k) => page.locator(`#graph svg g.node[data-key$="#${k}"]`).evaluate((n) => n.getBoundingClientRect().y);
    assert.ok((await y('root')) < (await y('web')) && (await y('web')) < (await y('db')));
  });

  await check(page, 'stop and start', async () => {
    await row(page, ALICE).locator('button.stop').click();
    await row(page, ALICE).locator('button.start').waitFor();
    assert.match(await row(page, ALICE).locator('td.env-state').textContent(), /stopped/);
    assert.match(await page.locator('#revisions li').first().textContent(), /stop by Alice/);
    await row(page, ALICE).locator('button.start').click();
    await row(page, ALICE).locator('button.stop').waitFor();
    assert.doesNotMatch(await row(page, ALICE).locator('td.env-state').textContent(), /stopped/);
    assert.match(await page.locator('#revisions li').first().textContent(), /start by Alice/);
  });

  await check(page, 'request demo makes one, with its host and expiry', async () => {
    await page.locator('#demos-view').waitFor({ state: 'visible' });
    const buttons = await page.locator('#demo-offers button.request-demo').evaluateAll((bs) => bs.map((b) => b.dataset.contract));
    assert.deepEqual(buttons, ['main/shop-demo'], 'only what the ACL lets Alice ask for');
    await page.click('#demo-offers button.request-demo');
    await page.locator('#message.info').waitFor();
    const msg = await page.textContent('#message');
    const m = /demo (main\/demo-[a-z0-9]{8}) requested: ([a-z0-9]{8})\.demo\.e2e\.test/.exec(msg);
    assert.ok(m, `message: ${msg}`);
    assert.equal(m[1], `main/demo-${m[2]}`);
    const demo = page.locator(`#demos tbody tr[data-id="${m[1]}"]`);
    await demo.waitFor();
    assert.equal((await demo.locator('td.requested-by').textContent()).trim(), 'Alice');
    assert.equal((await demo.locator('td.contract').textContent()).trim(), 'shop-demo');
    assert.match(await demo.locator('td.expiry').textContent(), /UTC \(in 3 d\)/);
    assert.ok((await demo.locator('td.id').textContent()).includes(`${m[2]}.demo.e2e.test`));
    assert.match(await page.locator('#revisions li').first().textContent(), /demo by Alice/);
    await demo.locator('button.extend').click();
    await page.waitForFunction((id) => /in 4 d/.test(document.querySelector(`#demos tr[data-id="${id}"] td.expiry`)?.textContent || ''), m[1]);
    await demo.locator('button.delete').click();
    await demo.locator('button.confirm-delete').click();
    await demo.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#demos tbody tr').count(), 0);
    assert.equal(await page.isVisible('#no-demos'), true);
  });

  await check(page, 'another user gets the ACL error and nothing changes', async () => {
    await logout(page);
    assert.equal(await login(page, 'Carol', 'demo'), 200);
    await row(page, ALICE).waitFor();
    const carol = await page.evaluate(() => sessionStorage.getItem('cairn.token'));
    const gens = (await api(carol, 'GET', '/api/v1/revisions')).body.generations.length;
    const envs = (await api(carol, 'GET', '/api/v1/environments')).body.environments;
    await row(page, ALICE).locator('button.extend').click();
    await page.locator('#message.error').waitFor();
    const msg = await page.textContent('#message');
    assert.match(msg, /extend main\/alice-pr-7 refused: 1 error\b.*; nothing was stored/);
    assert.match(msg, /user 'Carol' may not manage dependency main\/alice-pr-7/);
    await row(page, ALICE).locator('button.stop').click();
    await page.waitForFunction(() => /stop main\/alice-pr-7 refused/.test(document.querySelector('#message').textContent));
    assert.equal((await api(carol, 'GET', '/api/v1/revisions')).body.generations.length, gens);
    assert.deepEqual((await api(carol, 'GET', '/api/v1/environments')).body.environments, envs);
  });

  await check(page, 'delete asks first, then removes the environment', async () => {
    await logout(page);
    assert.equal(await login(page, 'Bob', 'demo'), 200);
    await row(page, BOB).waitFor();
    await row(page, BOB).locator('button.delete').click();
    await row(page, BOB).locator('button.cancel-delete').click();
    assert.equal(await row(page, BOB).count(), 1);
    await row(page, BOB).locator('button.delete').click();
    await row(page, BOB).locator('button.confirm-delete').click();
    await row(page, BOB).waitFor({ state: 'detached' });
    assert.equal(await page.locator('#environments tbody tr').count(), 1);
    assert.match(await page.locator('#revisions li').first().textContent(), /delete by Bob/);
  });

  await check(page, 'logout revokes the token', async () => {
    token = await page.evaluate(() => sessionStorage.getItem('cairn.token'));
    assert.equal((await api(token, 'GET', '/api/v1/whoami')).status, 200);
    await logout(page);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cairn.token')), null);
    const r = await api(token, 'GET', '/api/v1/environments');
    assert.equal(r.status, 401);
    assert.match(r.body.error, /token rejected/);
  });

  await check(page, 'a form on another site changes nothing, even in a browser that knows a password', async () => {
    // The browser holds Alice's password and would answer a Basic challenge
    // with it; the page at evil.test posts a form to stop her environment.
    const evil = await browser.newContext({ httpCredentials: { username: 'Alice', password: 'demo' } });
    try {
      const login = await fetch(base + '/api/v1/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: 'Alice', password: 'demo' }),
      });
      const alice = (await login.json()).token;
      const gens = (await api(alice, 'GET', '/api/v1/revisions')).body.generations.length;
      const p = await evil.newPage();
      await p.route('http://evil.test/**', (route) => route.fulfill({
        contentType: 'text/html',
        body: `<form id="f" method="post" action="${base}/api/v1/environments/${ALICE}/stop">` +
          '<input name="x" value="1"></form><script>document.getElementById("f").submit()</script>',
      }));
      const answer = p.waitForResponse((r) => r.url().endsWith('/stop'));
      await p.goto('http://evil.test/');
      const res = await answer;
      assert.equal(res.status(), 403);
      assert.match(await res.text(), /cross-site request refused/);
      assert.equal(res.headers()['www-authenticate'], undefined);
      assert.equal((await api(alice, 'GET', '/api/v1/revisions')).body.generations.length, gens);
      await p.close();
    } finally {
      await evil.close();
    }
  });

  await check(page, 'no dialog and no script error on the way', async () => {
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
  });
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
} finally {
  await browser.close();
}
console.log(`${passed} passed${failed ? ', 1 failed' : ''}; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
