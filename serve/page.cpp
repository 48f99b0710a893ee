#include "serve/page.hpp"

namespace ablate::serve {

namespace {

const char* kStyle =
    R"(body{font-family:Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1400px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;font-size:.9em}
.bar{display:flex;width:260px;height:12px;background:#eee;border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%}.done{background:#2a7}.running{background:#49d}.failed{background:#d33}
.interrupted{background:#e90}.stopped{background:#999}.pending{background:#eee}
.st-done{color:#2a7}.st-running{color:#27b}.st-failed{color:#d33}.st-interrupted{color:#c70}.st-stopped{color:#777}
.summary span{margin-right:1.2em}.err{color:#d33}.muted{color:#777}.curves{display:flex;flex-wrap:wrap;gap:10px}
.curves figure{margin:0;border:1px solid #ddd;padding:4px}.curves figcaption{font-size:.8em}
.svg svg{max-width:100%;height:auto}pre{white-space:pre-wrap}tr.sel{background:#eef}tr.click{cursor:pointer}
)";

// Helpers shared by both pages: the token of ?token= moves into the cookie the server set (and out of the
// address bar), every fetch sends the cookie, el() builds elements with text children only.
const char* kCommonScript = R"(
'use strict';
const q = new URLSearchParams(location.search);
if (q.has('token')) { q.delete('token'); history.replaceState(null, '', location.pathname + (q.toString() ? '?' + q : '')); }
async function getJson(url) {
  const r = await fetch(url, {credentials: 'same-origin', cache: 'no-store'});
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return r.json();
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? '' : String(k)));
  return e;
}
function hms(s) {
  if (s == null || !isFinite(s)) return '?';
  s = Math.round(s);
  return Math.floor(s / 3600) + ':' + String(Math.floor(s / 60) % 60).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
}
const STATES = ['done', 'running', 'failed', 'interrupted', 'stopped', 'pending'];
function bar(counts, total) {
  const b = el('div', {class: 'bar', title: STATES.map(s => s + ' ' + (counts[s] || 0)).join(', ')});
  for (const s of STATES) if (counts[s]) { const x = el('span', {class: s}); x.style.width = (100 * counts[s] / total) + '%'; b.append(x); }
  return b;
}
function fill(id, ...kids) { const e = document.getElementById(id); e.replaceChildren(...kids); return e; }
function show(id, on) { document.getElementById(id).hidden = !on; }
)";

std::string page(const std::string& title, const std::string& body, const std::string& script,
                 const std::string& nonce, int poll_ms) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + title +
         "</title>\n<meta name=\"referrer\" content=\"no-referrer\">\n<style>\n" + kStyle +
         "</style>\n</head>\n<body>\n" + body + "<script nonce=\"" + nonce +
         "\">\nconst POLL_MS = " + std::to_string(poll_ms) + ";\n" + kCommonScript + script +
         "</script>\n</body>\n</html>\n";
}

const char* kIndexBody = R"(<h1>ablate: studies of this store</h1>
<p id="status" class="muted">loading…</p>
<table><thead><tr><th>study</th><th>progress</th><th>done</th><th>running</th><th>failed</th><th>stopped</th><th>pending</th>
<th>elapsed</th><th>ETA</th><th>coordinator</th></tr></thead><tbody id="studies"></tbody></table>
<p class="muted">JSON: <a href="/api/studies">/api/studies</a> (docs/CLI.md "serve")</p>
)";

const char* kIndexScript = R"(
async function tick() {
  try {
    const d = await getJson('/api/studies');
    fill('studies', ...d.studies.map(s => {
      const c = s.counts;
      return el('tr', {}, el('td', {}, el('a', {href: '/study?name=' + encodeURIComponent(s.name)}, s.name)),
                el('td', {}, bar(c, s.tasks || 1)), el('td', {}, c.done + ' / ' + s.tasks), el('td', {}, c.running),
                el('td', {}, c.failed), el('td', {}, c.stopped), el('td', {}, c.pending), el('td', {}, hms(s.elapsed)),
                el('td', {}, hms(s.eta)), el('td', {}, s.coordinator ? 'running' : 'none'));
    }));
    fill('status', d.studies.length ? 'updated ' + new Date().toLocaleTimeString() : 'no study in this store yet');
  } catch (e) { fill('status', el('span', {class: 'err'}, String(e))); }
  setTimeout(tick, POLL_MS);
}
tick();
)";

const char* kStudyBody = R"(<p><a href="/">all studies</a></p>
<h1 id="title">study</h1>
<p id="summary" class="summary"></p>
<p id="status" class="muted">loading…</p>
<h2>Progress per variant</h2>
<table><thead><tr><th>variant</th><th>label</th><th>progress</th><th>done</th><th>running (epoch)</th><th>failed</th>
<th>interrupted</th><th>stopped (rung)</th><th>pending</th><th>mean time</th></tr></thead><tbody id="variants"></tbody></table>
<h2>Training curves</h2>
<p>variant <select id="variant"></select> <span class="muted">train loss (red, left scale), validation score
(blue, right scale); the dashed line marks the selected epoch</span></p>
<div id="curves" class="curves"></div>
<h2>Tasks</h2>
<p class="muted">running, failed, interrupted and stopped tasks, then the last finished ones; click a row for its curves</p>
<table><thead><tr><th>task</th><th>variant</th><th>fold</th><th>repeat</th><th>state</th><th>epoch</th><th>selected</th>
<th>attempts</th><th>host</th><th>time</th></tr></thead><tbody id="tasks"></tbody></table>
<section id="failures-section" hidden><h2>Failures</h2>
<table><thead><tr><th>task</th><th>variant</th><th>fold</th><th>repeat</th><th>attempt</th><th>state</th><th>host</th>
<th>message</th></tr></thead><tbody id="failures"></tbody></table></section>
<section id="trials-section" hidden><h2>Search trials</h2><p id="best"></p>
<table><thead><tr><th>trial</th><th>variant</th><th>method</th><th>point</th><th>objective</th><th>best so far</th>
<th>tasks done</th><th>state</th></tr></thead><tbody id="trials"></tbody></table></section>
<section id="rungs-section" hidden><h2>Early stopping</h2>
<table><thead><tr><th>rung</th><th>epoch</th><th>reached</th><th>promoted</th><th>waiting</th><th>stopped</th><th>failed</th>
<th>finished</th></tr></thead><tbody id="rungs"></tbody></table>
<p class="muted">the last decisions, newest first</p>
<table><thead><tr><th>variant</th><th>decision</th><th>rung</th><th>epoch</th><th>fold</th><th>score</th></tr></thead>
<tbody id="decisions"></tbody></table></section>
<section id="results"></section>
)";

const char* kStudyScript = R"(
const NAME = q.get('name') || '';
const API = (what, extra) => '/api/' + what + '?study=' + encodeURIComponent(NAME) + (extra || '');
let chosen = null, chosenTask = 0, resultsKey = null;
document.getElementById('title').textContent = 'Study ' + NAME;
document.title = 'ablate: ' + NAME;
document.getElementById('variant').addEventListener('change', e => { chosen = e.target.value; chosenTask = 0; tick(false); });
const fmt = (x, d) => x == null ? 'n/a' : Number(x).toFixed(d == null ? 4 : d);
const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}
// One task's curves: train loss on the left scale, the validation score on the right, the selected epoch dashed.
function curve(t) {
  const W = 300, H = 150, L = 40, R = 40, T = 10, B = 22;
  const s = svg('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H});
  const n = Math.max(2, ...t.epoch);
  const x = e => L + (W - L - R) * (e - 1) / (n - 1);
  s.append(svg('rect', {x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#ccc'}));
  const series = [[t.train_loss, '#d33', L - 4, 'end'], [t.val_score.some(v => v != null) ? t.val_score : t.val_dice, '#27b', W - R + 4, 'start']];
  for (const [ys, colour, tx, anchor] of series) {
    const v = ys.filter(y => y != null);
    if (!v.length) continue;
    let lo = Math.min(...v), hi = Math.max(...v);
    if (hi === lo) { hi += 0.5; lo -= 0.5; }
    const y = val => T + (H - T - B) * (1 - (val - lo) / (hi - lo));
    const pts = t.epoch.map((e, i) => ys[i] == null ? null : x(e) + ',' + y(ys[i])).filter(p => p);
    s.append(svg('polyline', {points: pts.join(' '), fill: 'none', stroke: colour, 'stroke-width': 1.5}));
    s.append(svg('text', {x: tx, y: T + 8, 'font-size': 9, fill: colour, 'text-anchor': anchor}, fmt(hi, 3)));
    s.append(svg('text', {x: tx, y: H - B, 'font-size': 9, fill: colour, 'text-anchor': anchor}, fmt(lo, 3)));
  }
  if (t.best_epoch > 0) {
    s.append(svg('line', {x1: x(t.best_epoch), x2: x(t.best_epoch), y1: T, y2: H - B, stroke: '#2a7', 'stroke-dasharray': '4 3'}));
    s.append(svg('text', {x: x(t.best_epoch), y: H - 4, 'font-size': 9, fill: '#2a7', 'text-anchor': 'middle'}, 'selected ' + t.best_epoch));
  }
  s.append(svg('text', {x: L, y: H - 4, 'font-size': 9, fill: '#777'}, 'epoch 1'));
  s.append(svg('text', {x: W - R, y: H - 4, 'font-size': 9, fill: '#777', 'text-anchor': 'end'}, n));
  return el('figure', {}, s, el('figcaption', {}, 'task ' + t.id + ' fold ' + t.fold + ' repeat ' + t.repeat + ': ' + t.status +
                                 (t.status === 'stopped' ? ' at rung ' + t.rung : '') + ', ' + t.epoch.length + ' epoch(s)'));
}
function renderTasks(d) {
  const c = d.counts;
  fill('summary', el('span', {}, c.done + ' / ' + d.total + ' done'), el('span', {}, 'running ' + c.running),
       el('span', {}, 'failed ' + c.failed), el('span', {}, 'stopped ' + c.stopped), el('span', {}, 'interrupted ' + c.interrupted),
       el('span', {}, 'pending ' + c.pending), el('span', {}, 'elapsed ' + hms(d.elapsed)), el('span', {}, 'ETA ' + hms(d.eta)),
       el('span', {}, 'workers busy ' + d.busy + ' / ' + d.workers),
       el('span', {}, d.coordinator ? 'a coordinator is running' : 'no coordinator running'));
  const running = {};
  for (const t of d.tasks) if (t.status === 'running') (running[t.variant] = running[t.variant] || []).push(t.epoch);
  fill('variants', ...d.variants.map(v => {
    const k = v.counts, n = Object.values(k).reduce((a, b) => a + b, 0) || 1;
    const r = el('tr', {class: 'click' + (v.name === chosen ? ' sel' : '')},
      el('td', {}, v.name), el('td', {}, v.label), el('td', {}, bar(k, n)), el('td', {}, k.done),
      el('td', {}, k.running + (running[v.name] ? ' (' + running[v.name].join(', ') + ')' : '')), el('td', {}, k.failed),
      el('td', {}, k.interrupted), el('td', {}, k.stopped + (v.rung ? ' (' + v.rung + ')' : '')), el('td', {}, k.pending),
      el('td', {}, v.mean_seconds == null ? '-' : hms(v.mean_seconds)));
    r.addEventListener('click', () => { chosen = v.name; chosenTask = 0; tick(false); });
    return r;
  }));
  if (!chosen || !d.variants.some(v => v.name === chosen)) {
    const live = d.tasks.find(t => t.status === 'running');
    chosen = live ? live.variant : (d.variants[0] || {}).name || null;
  }
  const sel = document.getElementById('variant');
  if (sel.options.length !== d.variants.length) sel.replaceChildren(...d.variants.map(v => el('option', {value: v.name}, v.name)));
  sel.value = chosen || '';
  const open = d.tasks.filter(t => ['running', 'failed', 'interrupted', 'stopped'].includes(t.status));
  const finished = d.tasks.filter(t => t.status === 'done').sort((a, b) => b.ended - a.ended).slice(0, 50);
  fill('tasks', ...open.concat(finished).map(t => {
    const r = el('tr', {class: 'click' + (t.id === chosenTask ? ' sel' : '')}, el('td', {}, t.id), el('td', {}, t.variant),
      el('td', {}, t.fold), el('td', {}, t.repeat),
      el('td', {class: 'st-' + t.status}, t.status + (t.status === 'stopped' ? ' at rung ' + t.rung : '')), el('td', {}, t.epoch),
      el('td', {}, t.best_epoch || '-'), el('td', {}, t.attempts), el('td', {}, t.host),
      el('td', {}, t.status === 'running' ? hms(d.now - t.started) : hms(t.seconds)));
    r.addEventListener('click', () => { chosen = t.variant; chosenTask = t.id; tick(false); });
    return r;
  }));
  show('failures-section', d.failures.length > 0);
  fill('failures', ...d.failures.map(f => el('tr', {}, el('td', {}, f.task), el('td', {}, f.variant), el('td', {}, f.fold),
    el('td', {}, f.repeat), el('td', {}, f.attempt), el('td', {class: 'st-' + f.status}, f.status), el('td', {}, f.host),
    el('td', {}, el('pre', {class: 'err'}, f.message)))));
}
function renderTrials(d) {
  show('trials-section', true);
  const done = d.trials.filter(t => t.best_so_far != null);
  fill('best', done.length ? 'best so far: ' + fmt(done[done.length - 1].best_so_far) + ' (validation ' + d.objective + ', ' +
       (d.direction === 'minimize' ? 'lower' : 'higher') + ' is better)' : 'no trial finished yet');
  fill('trials', ...d.trials.map(t => el('tr', {}, el('td', {}, (t.declared ? t.declared + ' ' : '') + t.trial),
    el('td', {}, t.variant), el('td', {}, t.method), el('td', {}, t.point), el('td', {}, fmt(t.objective)),
    el('td', {}, fmt(t.best_so_far)), el('td', {}, t.done + ' / ' + t.tasks),
    el('td', {class: t.state === 'pruned' ? 'st-stopped' : t.state === 'failed' ? 'st-failed' : ''},
       t.state === 'pruned' ? 'pruned at rung epoch ' + t.rung : t.state))));
}
function renderDecisions(d) {
  show('rungs-section', true);
  fill('rungs', ...d.rungs.map(r => el('tr', {}, el('td', {}, r.rung), el('td', {}, r.epoch), el('td', {}, r.reached),
    el('td', {}, r.promoted), el('td', {}, r.waiting), el('td', {}, r.stopped), el('td', {}, r.failed), el('td', {}, r.finished))));
  fill('decisions', ...d.decisions.filter(e => e.fold < 0).slice(-30).reverse().map(e => el('tr', {}, el('td', {}, e.variant),
    el('td', {}, e.kind), el('td', {}, e.rung), el('td', {}, e.epoch), el('td', {}, e.fold), el('td', {}, fmt(e.score)))));
}
async function tick(again = true) {
  try {
    const d = await getJson(API('tasks'));
    renderTasks(d);
    if (chosen) {
      const e = await getJson(API('epochs', chosenTask ? '&task=' + chosenTask : '&variant=' + encodeURIComponent(chosen) + '&limit=1000'));
      fill('curves', ...e.tasks.filter(t => t.epoch.length || t.status === 'running').map(curve));
    }
    if (d.search) renderTrials(await getJson(API('trials')));
    if (d.early_stopping) renderDecisions(await getJson(API('decisions')));
    // The report's sections are drawn again only when results arrived.
    const key = [d.counts.done, d.counts.failed, d.counts.stopped].join('/');
    if (key !== resultsKey) {
      const r = await fetch('/study/results?name=' + encodeURIComponent(NAME), {credentials: 'same-origin', cache: 'no-store'});
      if (!r.ok) throw new Error('results: HTTP ' + r.status);
      document.getElementById('results').innerHTML = await r.text();  // drawn and escaped by the report's renderers
      resultsKey = key;
    }
    fill('status', 'updated ' + new Date().toLocaleTimeString());
  } catch (e) { fill('status', el('span', {class: 'err'}, String(e))); }
  if (again) setTimeout(tick, POLL_MS);
}
tick();
)";

}  // namespace

std::string index_page(const std::string& nonce, int poll_ms) {
  return page("ablate serve", kIndexBody, kIndexScript, nonce, poll_ms);
}

std::string study_page(const std::string& nonce, int poll_ms) {
  return page("ablate serve: study", kStudyBody, kStudyScript, nonce, poll_ms);
}

}  // namespace ablate::serve
