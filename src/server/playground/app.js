// stance playground. Everything the user typed, and everything the API returned, is put on the
// page with textContent or text nodes, never parsed as HTML, so markup in an article stays text.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_FILE_BYTES = 1024 * 1024;
  let labels = [];

  /** The style class of a label: the three known ones, then three spare colours by order. */
  function labelClass(label) {
    const known = { 'pro-open': 'lab-open', 'pro-closed': 'lab-closed', neutral: 'lab-neutral' };
    if (known[label]) return known[label];
    const i = labels.indexOf(label);
    return 'lab-other' + (((i < 0 ? 0 : i) % 3) + 1);
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function pct(p) {
    return (100 * p).toFixed(1) + '%';
  }

  function status(message, isError) {
    const s = $('status');
    s.textContent = message;
    s.classList.toggle('error', Boolean(isError));
  }

  async function loadModel() {
    try {
      const r = await fetch('/v1/model', { headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const meta = await r.json();
      $('model-version').textContent = meta.version || 'unknown';
      if (Array.isArray(meta.labels)) labels = meta.labels.slice();
    } catch (e) {
      $('model-version').textContent = 'unavailable';
    }
  }

  function explainCount() {
    const n = Number.parseInt($('explain').value, 10);
    if (!Number.isFinite(n) || n < 1) return 15;
    return Math.min(n, 100);
  }

  /** Hides the last result: after a failure or an empty submit it would pass for this text's. */
  function clearResult() {
    $('result').hidden = true;
    $('evidence-view').hidden = true;
    $('result').classList.remove('stale');
    $('evidence-view').classList.remove('stale');
    hideTip();
  }

  async function score() {
    const button = $('score');
    // Ctrl+Enter does not see the disabled button: one request at a time, so an older answer
    // can never land over a newer one.
    if (button.disabled) return;
    const text = $('text').value;
    if (!text.trim()) {
      clearResult();
      status('Paste or drop some text first.', true);
      $('text').focus();
      return;
    }
    button.disabled = true;
    status('Scoring…', false);
    try {
      const r = await fetch('/v1/classify', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ text: text, explain: explainCount() }),
      });
      let body = null;
      try {
        body = await r.json();
      } catch (e) {
        body = null;
      }
      if (!r.ok) {
        clearResult();
        const msg = body && body.error ? body.error.message + ' (' + body.error.code + ')' : 'HTTP ' + r.status;
        if (r.status === 413) {
          status('This text is too long for the service (the limit counts the text after JSON ' +
            'escaping, so quotes and line breaks count twice): ' + msg, true);
        } else if (r.status === 429) {
          status('The service is busy scoring other long texts; try again in a second: ' + msg, true);
        } else {
          status('The service refused the text: ' + msg, true);
        }
        return;
      }
      render(text, body);
      // The live region says what a sighted user sees first: the label and any warning.
      const warnings = [];
      if (body.on_topic === false) warnings.push('off topic');
      if (body.insufficient_evidence) warnings.push('insufficient evidence');
      status('Scored: ' + body.label + ', ' + pct(body.confidence) + ' probability' +
        (warnings.length ? ' (' + warnings.join(', ') + ')' : '') + '. ' + body.tokens +
        ' tokens, model ' + body.model.version + '.', false);
    } catch (e) {
      clearResult();
      status('Could not reach the service: ' + e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  function render(text, r) {
    const order = labels.length ? labels.filter((l) => l in r.scores) : Object.keys(r.scores);
    Object.keys(r.scores).forEach((l) => { if (!order.includes(l)) order.push(l); });

    const badge = $('label');
    badge.textContent = r.label;
    badge.className = 'badge ' + labelClass(r.label);
    $('confidence').textContent = pct(r.confidence) + ' probability';

    const bars = $('bars');
    clear(bars);
    for (const l of order) {
      const row = el('div', 'bar-row');
      row.setAttribute('role', 'listitem');
      row.dataset.label = l;
      row.appendChild(el('span', 'bar-name', l));
      const track = el('span', 'bar-track');
      track.setAttribute('aria-hidden', 'true');
      const fill = el('span', 'bar-fill ' + labelClass(l));
      fill.style.width = (100 * r.scores[l]).toFixed(2) + '%';
      track.appendChild(fill);
      row.appendChild(track);
      row.appendChild(el('span', 'bar-value', pct(r.scores[l])));
      bars.appendChild(row);
    }

    const hasRel = typeof r.relevance === 'number';
    $('relevance').textContent = hasRel ? pct(r.relevance) : 'not in this model';
    $('on-topic').textContent = typeof r.on_topic === 'boolean' ? (r.on_topic ? 'yes' : 'no') : 'n/a';
    $('evidence').textContent = r.evidence + ' features';
    $('tokens').textContent = r.tokens + ' (' + r.unknown_tokens + ' unknown)';
    const thin = $('thin');
    thin.hidden = !r.insufficient_evidence;
    thin.textContent = 'Insufficient evidence: the score rests on only ' + r.evidence +
      ' known features. Treat the label as a guess.';
    const off = $('off-topic');
    off.hidden = r.on_topic !== false;
    off.textContent = 'Off topic: this text does not seem to be about open versus closed AI ' +
      'models, so the stance describes a text outside the debate.';
    $('result').hidden = false;
    $('result').classList.remove('stale');
    $('evidence-view').classList.remove('stale');

    renderLegend(order);
    renderArticle(text, r.spans || []);
    const trunc = $('truncated');
    trunc.hidden = !r.spans_truncated;
    trunc.textContent = 'Only the first ' + (r.spans || []).length + ' occurrences are highlighted.';
    renderTop(order, r.explanation || {}, r.baseline || {});
    $('evidence-view').hidden = false;
  }

  function renderLegend(order) {
    const legend = $('legend');
    clear(legend);
    for (const l of order) {
      const item = el('span', 'legend-item');
      item.appendChild(el('span', 'swatch ' + labelClass(l)));
      item.appendChild(document.createTextNode('pushes toward ' + l));
      legend.appendChild(item);
    }
  }

  /**
   * The article as text nodes, cut at every span boundary; each piece covered by spans becomes a
   * focusable <mark> coloured by the strongest of them, with every covering span in its tooltip.
   * data-spans lists the indices (into the API's spans) a piece belongs to.
   */
  function renderArticle(text, spans) {
    const article = $('article');
    clear(article);
    const valid = spans
      .map((s, i) => ({ s: s, i: i }))
      .filter((x) => Number.isInteger(x.s.start) && Number.isInteger(x.s.end) &&
        x.s.start >= 0 && x.s.start < x.s.end && x.s.end <= text.length);
    const cuts = new Set([0, text.length]);
    for (const x of valid) { cuts.add(x.s.start); cuts.add(x.s.end); }
    const bounds = Array.from(cuts).sort((a, b) => a - b);
    const maxWeight = valid.reduce((m, x) => Math.max(m, x.s.weight), 0) || 1;
    const byStart = valid.slice().sort((a, b) => a.s.start - b.s.start);
    let next = 0;
    let active = [];
    const frag = document.createDocumentFragment();
    for (let k = 0; k + 1 < bounds.length; k++) {
      const a = bounds[k];
      const b = bounds[k + 1];
      active = active.filter((x) => x.s.end > a);
      while (next < byStart.length && byStart[next].s.start <= a) {
        if (byStart[next].s.end > a) active.push(byStart[next]);
        next++;
      }
      const piece = text.slice(a, b);
      if (!active.length) {
        frag.appendChild(document.createTextNode(piece));
        continue;
      }
      const covering = active.slice().sort((x, y) => y.s.weight - x.s.weight);
      const top = covering[0].s;
      const level = Math.min(5, Math.max(1, Math.ceil(5 * top.weight / maxWeight)));
      const mark = el('mark', labelClass(top.label) + ' w' + level, piece);
      mark.tabIndex = 0;
      mark.dataset.spans = covering.map((x) => x.i).sort((p, q) => p - q).join(',');
      const tip = covering
        .map((x) => x.s.feature + ' → ' + x.s.label + ', weight ' + x.s.weight.toFixed(4))
        .join('\n');
      mark.dataset.tip = tip;
      mark.setAttribute('aria-label', piece + ': ' + tip.replace(/\n/g, '; '));
      frag.appendChild(mark);
    }
    article.appendChild(frag);
  }

  /**
   * Per label, the words that pushed toward it, under the probability a text with no known word
   * gets (the baseline): a label can win on the baseline with no word listed under it.
   */
  function renderTop(order, explanation, baseline) {
    const top = $('top');
    clear(top);
    for (const l of order) {
      const box = el('section', 'top-label');
      box.dataset.label = l;
      const h = el('h3');
      h.appendChild(el('span', 'swatch ' + labelClass(l)));
      h.appendChild(document.createTextNode(l));
      box.appendChild(h);
      if (typeof baseline[l] === 'number') {
        box.appendChild(el('p', 'baseline', 'with no evidence: ' + pct(baseline[l])));
      }
      const words = explanation[l] || [];
      if (!words.length) {
        box.appendChild(el('p', 'empty', 'no feature pushes toward it'));
      } else {
        const ol = el('ol');
        for (const w of words) {
          const li = el('li');
          li.appendChild(el('span', 'w', w.weight.toFixed(3)));
          li.appendChild(el('span', 'feature', w.token));
          ol.appendChild(li);
        }
        box.appendChild(ol);
      }
      top.appendChild(box);
    }
  }

  async function readFile(file) {
    if (!file) return;
    const okType = file.type === '' || file.type.startsWith('text/');
    if (!okType && !/\.txt$/i.test(file.name)) {
      status('Only plain-text files can be scored (got ' + (file.type || 'an unknown type') + ').', true);
      return;
    }
    if (file.size > MAX_FILE_BYTES) {
      status('That file is over 1 MiB, the service\u2019s body limit.', true);
      return;
    }
    let text;
    try {
      // Fatal: the API refuses text that is not UTF-8, and silently replacing bytes with
      // U+FFFD would score a different text than the file holds.
      text = new TextDecoder('utf-8', { fatal: true }).decode(await file.arrayBuffer());
    } catch (e) {
      status(file.name + ' is not UTF-8 text: save it as UTF-8 and open it again.', true);
      return;
    }
    $('text').value = text;
    markStale();
    status('Loaded ' + file.name + ' (' + file.size + ' bytes). Press Score.', false);
  }

  /** The shown result belongs to an earlier text once the text is edited: dim it and say so. */
  function markStale() {
    if ($('result').hidden) return;
    $('result').classList.add('stale');
    $('evidence-view').classList.add('stale');
    status('The text has changed: the score below is for the previous text. Press Score.', false);
  }

  /** One tooltip for every highlight, fixed to the viewport: a tooltip inside the scrolling
   * article box was cut off at its edges. */
  function showTip(mark) {
    const tip = $('tip');
    tip.textContent = mark.dataset.tip || '';
    tip.hidden = false;
    const r = mark.getBoundingClientRect();
    const w = tip.offsetWidth;
    const h = tip.offsetHeight;
    const left = Math.max(4, Math.min(r.left, window.innerWidth - w - 4));
    const below = r.bottom + 6;
    const top = below + h + 4 <= window.innerHeight ? below : Math.max(4, r.top - h - 6);
    tip.style.left = left + 'px';
    tip.style.top = top + 'px';
  }

  function hideTip() {
    $('tip').hidden = true;
  }

  function init() {
    const art = $('article');
    for (const on of ['mouseover', 'focusin']) {
      art.addEventListener(on, (e) => {
        const mark = e.target.closest && e.target.closest('mark');
        if (mark) showTip(mark);
      });
    }
    for (const off of ['mouseout', 'focusout']) {
      art.addEventListener(off, (e) => {
        if (e.target.closest && e.target.closest('mark')) hideTip();
      });
    }
    // Focusing a highlight scrolls it into view after the focus event: follow it there.
    const follow = () => {
      const focused = document.activeElement;
      if (focused && focused.tagName === 'MARK' && art.contains(focused)) showTip(focused);
      else hideTip();
    };
    art.addEventListener('scroll', follow);
    window.addEventListener('scroll', follow, { passive: true });
    window.addEventListener('resize', follow);
    $('form').addEventListener('submit', (e) => {
      e.preventDefault();
      score();
    });
    const area = $('text');
    area.addEventListener('input', markStale);
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        score();
      }
    });
    area.addEventListener('dragover', (e) => {
      e.preventDefault();
      area.classList.add('dragging');
    });
    area.addEventListener('dragleave', () => area.classList.remove('dragging'));
    area.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      area.classList.remove('dragging');
      const files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) readFile(files[0]);
    });
    $('file').addEventListener('change', (e) => readFile(e.target.files[0]));
    // A file dropped anywhere else on the page is read too, instead of the browser leaving the
    // page to show it.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => {
      e.preventDefault();
      const files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) readFile(files[0]);
    });
    loadModel();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
