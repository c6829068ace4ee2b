// The playground in a real browser (run by tests/browser.sh, which starts the server and sets
// STANCE_URL, CHROMIUM, PW_DIR, OUT_DIR, ESSAY and DOCS_DIR). Each case pastes a text, presses
// Score and compares what the page shows with what the API answers for the same request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run tests/browser.sh`);
  return v;
};
const BASE = env('STANCE_URL');
const OUT = env('OUT_DIR');
const require = createRequire(path.join(env('PW_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

// Written for these tests (no corpus or reference text is copied here).
const PRO_CLOSED =
  'Keeping the model behind an API lets the lab monitor misuse, patch safety problems for every ' +
  'user at once and revoke access from bad actors. Released weights cannot be recalled; once ' +
  'they are out, nobody can stop a fine-tuned copy from being misused. Staged access through a ' +
  'hosted API is the safer and more responsible path.';
const SAMPLE =
  'Why we publish our weights\n\n' +
  'We release the full weights of our model because open models let anyone audit, fork and ' +
  'fine-tune them on their own hardware. A closed model behind an API leaves customers locked ' +
  'in to one vendor’s prices and policies. Independent researchers found and fixed safety ' +
  'problems in earlier open releases faster than any single lab could — and universities can ' +
  'build on the same foundation. 🚀';
const INJECTION =
  'Open weights <script>alert(1)</script> let anyone audit the model. ' +
  '<img src=x onerror="alert(2)"> A closed API <b onmouseover=alert(3)>locks</b> customers in. ' +
  '"><svg onload=alert(4)> Open models let the community fine-tune.';

let browser;
let page;
const dialogs = [];
const problems = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push('console: ' + m.text());
  });
  page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
});

after(async () => {
  if (browser) await browser.close();
});

async function api(text, explain) {
  const r = await fetch(BASE + '/v1/classify', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text, explain }),
  });
  assert.equal(r.status, 200);
  return r.json();
}

/** Loads the page and waits until it has asked the model's version. */
async function open() {
  const response = await page.goto(BASE + '/', { waitUntil: 'networkidle' });
  await page.waitForFunction(() => document.getElementById('model-version').textContent !== 'loading…');
  return response;
}

/** Pastes `text` into the page, presses Score and waits for the result. */
async function scoreInPage(text) {
  await page.fill('#text', text);
  await page.evaluate(() => {
    document.getElementById('evidence-view').hidden = true;
  });
  await page.click('#score');
  await page.waitForSelector('#evidence-view:not([hidden])');
}

/** The highlighted pieces of the rendered article, with their UTF-16 positions in it. */
async function renderedMarks() {
  return page.evaluate(() => {
    const art = document.getElementById('article');
    let pos = 0;
    const marks = [];
    for (const node of art.childNodes) {
      const len = node.textContent.length;
      if (node.nodeType === Node.ELEMENT_NODE) {
        marks.push({
          tag: node.tagName,
          a: pos,
          b: pos + len,
          spans: (node.dataset.spans || '').split(',').filter(Boolean).map(Number),
          tip: node.dataset.tip || '',
          focusable: node.tabIndex === 0,
        });
      }
      pos += len;
    }
    return { text: art.textContent, marks, elements: art.querySelectorAll('*').length };
  });
}

/** Every API span is highlighted exactly over its UTF-16 range, and nothing else is. */
function assertSpansMatch(r, shown, text) {
  assert.equal(shown.text, text, 'the article is shown as it was typed');
  assert.ok(r.spans.length > 0, 'the API found spans');
  assert.ok(shown.marks.length > 0, 'the page highlights something');
  assert.equal(shown.elements, shown.marks.length, 'no element but the highlights');
  for (const m of shown.marks) {
    assert.equal(m.tag, 'MARK');
    assert.ok(m.focusable, 'highlights are keyboard-focusable');
    assert.ok(m.spans.length > 0, 'every highlight belongs to a span');
  }
  r.spans.forEach((s, i) => {
    const pieces = shown.marks.filter((m) => m.spans.includes(i));
    assert.ok(pieces.length > 0, `span ${i} (${s.feature}) is highlighted`);
    assert.equal(pieces[0].a, s.start, `span ${i} starts where the API says`);
    assert.equal(pieces[pieces.length - 1].b, s.end, `span ${i} ends where the API says`);
    for (let k = 1; k < pieces.length; k++) {
      assert.equal(pieces[k].a, pieces[k - 1].b, `span ${i} is highlighted without a gap`);
    }
    for (const p of pieces) {
      assert.ok(
        p.tip.includes(`${s.feature} → ${s.label}, weight ${s.weight.toFixed(4)}`),
        `span ${i}'s feature and exact weight are in its tooltip: ${p.tip}`,
      );
    }
  });
}

async function shot(name) {
  await page.screenshot({ path: path.join(OUT, name), fullPage: true });
}

test('the page loads under its CSP with the model version and the OpenAPI link', async () => {
  const r = await open();
  assert.match(r.headers()['content-security-policy'], /script-src 'self'/);
  const meta = await (await fetch(BASE + '/v1/model')).json();
  assert.equal(await page.textContent('#model-version'), meta.version);
  assert.equal(await page.getAttribute('a[href="/openapi.json"]', 'href'), '/openapi.json');
  assert.equal(await page.getAttribute('label[for="text"]', 'for'), 'text');
  assert.deepEqual(problems, [], 'no script error and no CSP violation');
});

test('a short pro-closed text: label, bars, flags and highlighted spans match the API', async () => {
  await open();
  await scoreInPage(PRO_CLOSED);
  const r = await api(PRO_CLOSED, 15);
  assert.equal(r.label, 'pro-closed', 'the model calls the text pro-closed');
  assert.equal((await page.textContent('#label')).trim(), r.label);
  for (const [label, p] of Object.entries(r.scores)) {
    const shown = await page.textContent(`.bar-row[data-label="${label}"] .bar-value`);
    assert.equal(shown, (100 * p).toFixed(1) + '%');
  }
  assert.equal(await page.textContent('#on-topic'), r.on_topic ? 'yes' : 'no');
  assert.equal(await page.isVisible('#thin'), r.insufficient_evidence);
  assertSpansMatch(r, await renderedMarks(), PRO_CLOSED);
  for (const [label, words] of Object.entries(r.explanation)) {
    const shown = await page.$$eval(`#top .top-label[data-label="${label}"] li`, (els) =>
      els.map((e) => [e.querySelector('.feature').textContent, e.querySelector('.w').textContent]));
    assert.deepEqual(shown, words.map((t) => [t.token, t.weight.toFixed(3)]), `top words of ${label}`);
    const base = await page.textContent(`#top .top-label[data-label="${label}"] .baseline`);
    assert.equal(base, 'with no evidence: ' + (100 * r.baseline[label]).toFixed(1) + '%', `baseline of ${label}`);
  }
  await shot('pro-closed.png');
});

test('the reference essay is pro-open and its spans match the API', async (t) => {
  const essayPath = process.env.ESSAY;
  if (!essayPath || !fs.existsSync(essayPath)) {
    t.skip('no reference essay in ../shared');
    return;
  }
  const essay = fs.readFileSync(essayPath, 'utf8');
  await open();
  await scoreInPage(essay);
  const r = await api(essay, 15);
  assert.equal(r.label, 'pro-open');
  assert.equal((await page.textContent('#label')).trim(), 'pro-open');
  // The textarea normalises nothing in this essay: the page scored the same text.
  assert.equal(await page.inputValue('#text'), essay);
  assertSpansMatch(r, await renderedMarks(), essay);
  await shot('reference-essay.png');
});

test('markup in the article stays text: no element, no script, no dialog', async () => {
  await open();
  await scoreInPage(INJECTION);
  await page.waitForTimeout(300);
  const r = await api(INJECTION, 15);
  const shown = await renderedMarks();
  assertSpansMatch(r, shown, INJECTION);
  const counts = await page.evaluate(() => ({
    scripts: document.querySelectorAll('script').length,
    imgs: document.querySelectorAll('img, svg, b').length,
    inArticle: document.querySelectorAll('#article script, #article img, #article svg, #article b').length,
  }));
  assert.deepEqual(counts, { scripts: 1, imgs: 0, inArticle: 0 });
  // Hovering the highlights fires nothing either.
  for (const m of (await page.$$('#article mark')).slice(0, 12)) await m.hover();
  assert.deepEqual(dialogs, [], 'no alert ran');
  assert.ok((await page.textContent('#article')).includes('<img src=x onerror="alert(2)">'));
  await shot('injection.png');
});

test('keyboard focus shows the exact weight, and a .txt file can be opened', async () => {
  await open();
  await page.setInputFiles('#file', {
    name: 'sample.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from(SAMPLE, 'utf8'),
  });
  await page.waitForFunction((t) => document.getElementById('text').value === t, SAMPLE);
  // Dropping a file on the page reads it as well.
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped text'], 'dropped.txt', { type: 'text/plain' }));
    document.querySelector('main').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => document.getElementById('text').value === 'dropped text');
  assert.match(await page.textContent('#status'), /dropped\.txt/);
  await page.setInputFiles('#file', {
    name: 'sample.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from(SAMPLE, 'utf8'),
  });
  await page.waitForFunction((t) => document.getElementById('text').value === t, SAMPLE);
  await page.focus('#text');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#evidence-view:not([hidden])');
  const r = await api(SAMPLE, 15);
  assertSpansMatch(r, await renderedMarks(), SAMPLE);
  // Tab from the heading before the article to the first highlight.
  await page.focus('#article-h');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    return {
      tag: el.tagName,
      spans: (el.dataset.spans || '').split(',').map(Number),
      after: document.getElementById('tip').hidden ? '' : document.getElementById('tip').textContent,
    };
  });
  assert.equal(focused.tag, 'MARK');
  for (const i of focused.spans) {
    const s = r.spans[i];
    assert.ok(focused.after.includes(`${s.feature} → ${s.label}, weight ${s.weight.toFixed(4)}`),
      `the focused highlight shows span ${i}'s exact weight: ${focused.after}`);
  }
  // Hover shows the same tooltip as focus.
  await page.mouse.move(0, 0);
  await page.focus('#text');
  const hovered = await page.locator('#article mark').nth(1);
  await hovered.hover();
  const hoverTip = await hovered.evaluate((el) => [el.dataset.tip, document.getElementById('tip').textContent]);
  assert.ok(hoverTip[1].includes(hoverTip[0].split('\n')[0]), `tooltip on hover: ${hoverTip[1]}`);
  await shot('sample-focus.png');
  if (process.env.UPDATE_DOCS === '1') {
    await page.setViewportSize({ width: 1100, height: 760 });
    await page.mouse.move(1, 1);
    await page.focus('#article-h');
    await page.keyboard.press('Tab');
    await page.screenshot({ path: path.join(env('DOCS_DIR'), 'playground.png') });
  }
  assert.deepEqual(problems, [], 'no script error and no CSP violation');
});

/** Whether the tooltip is shown whole inside the viewport. */
async function tipInView() {
  return page.evaluate(() => {
    const tip = document.getElementById('tip');
    const r = tip.getBoundingClientRect();
    return !tip.hidden && r.width > 0 && r.left >= 0 && r.top >= 0 &&
      r.right <= window.innerWidth && r.bottom <= window.innerHeight;
  });
}

test('tooltips are whole at the edges of the article box, also on a phone', async () => {
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 700 });
    await open();
    await scoreInPage(SAMPLE + '\n\n' + SAMPLE + '\n\n' + SAMPLE);
    const marks = await page.$$('#article mark');
    // The last highlight (bottom of the box) and the right-most one on its line.
    const rightmost = await page.evaluate(() => {
      const ms = [...document.querySelectorAll('#article mark')];
      let best = 0;
      ms.forEach((m, i) => { if (m.getBoundingClientRect().right > ms[best].getBoundingClientRect().right) best = i; });
      return best;
    });
    for (const i of [rightmost, marks.length - 1]) {
      await marks[i].focus();
      // Focus scrolls the highlight into view; the tooltip follows on the next frames.
      await page.waitForTimeout(150);
      assert.ok(await tipInView(), `width ${width}: the tooltip of highlight ${i} is whole`);
      const tip = await page.textContent('#tip');
      const own = await marks[i].evaluate((m) => m.dataset.tip);
      assert.equal(tip, own, 'it is that highlight\'s tooltip');
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('nothing stale: a failed or empty request hides the last score, an edit dims it', async () => {
  await open();
  assert.equal(await page.isVisible('#evidence-view'), false, 'no empty panels on a fresh page');
  await scoreInPage(SAMPLE);
  assert.match(await page.textContent('#status'), /^Scored: pro-open, /, 'the live region says the label');
  await page.fill('#text', PRO_CLOSED);
  assert.ok(await page.evaluate(() => document.getElementById('result').classList.contains('stale')));
  assert.match(await page.textContent('#status'), /previous text/);
  let calls = 0;
  await page.route('**/v1/classify', async (route) => {
    calls += 1;
    await new Promise((done) => setTimeout(done, 300));
    await route.fulfill({
      status: 413,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'payload_too_large', message: 'request body exceeds the limit of 1000 bytes' } }),
    });
  });
  await page.focus('#text');
  // Three quick Ctrl+Enter: one request, so an older answer cannot land over a newer one.
  for (let k = 0; k < 3; k++) await page.keyboard.press('Control+Enter');
  await page.waitForFunction(() => document.getElementById('status').classList.contains('error'));
  assert.equal(calls, 1);
  assert.match(await page.textContent('#status'), /too long/);
  assert.equal(await page.isVisible('#result'), false, 'the old score is gone after a failure');
  assert.equal(await page.isVisible('#evidence-view'), false);
  await page.unroute('**/v1/classify');
  await scoreInPage(SAMPLE);
  await page.fill('#text', '   ');
  await page.click('#score');
  assert.equal(await page.isVisible('#result'), false, 'the old score is gone after an empty submit');
  // A file that is not UTF-8 is refused, not decoded with replacement characters.
  await page.fill('#text', 'kept');
  await page.setInputFiles('#file', { name: 'latin1.txt', mimeType: 'text/plain', buffer: Buffer.from([0x63, 0x61, 0x66, 0xe9]) });
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('UTF-8'));
  assert.equal(await page.inputValue('#text'), 'kept');
  // The browser logs the refused request itself; nothing else may have gone wrong.
  assert.deepEqual(problems.filter((p) => !p.includes('413')), []);
  problems.length = 0;
});
