/**
 * The console's page: one HTML file, one script, one stylesheet, all served by the engine (no CDN:
 * hospital networks block them). The script uses the JSON API only, and puts data on the page
 * with textContent, never as HTML. It shows message content only after an operator typed a
 * reason and the API wrote the content view to the audit topic (POST .../content); the editor
 * of edit-and-resubmit starts from that text, and its diff is worked out here, in the page.
 */
export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hl7-engine console</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header><h1>hl7-engine console</h1><span id="who"></span><nav id="nav" hidden>
<button id="nav-search" type="button">Messages</button>
<button id="nav-queue" type="button">Queue</button>
<button id="nav-channels" type="button">Channels</button>
<button id="logout" type="button">Log out</button></nav></header>
<main>
<form id="login" hidden>
<h2>Log in</h2>
<label>User <input id="login-user" name="user" autocomplete="username" required></label>
<label>Password <input id="login-password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
<p id="login-error" class="error" role="alert"></p>
</form>
<section id="search" hidden>
<h2>Messages</h2>
<form id="search-form">
<label>Control id <input id="q-control" name="controlId"></label>
<label>Type <input id="q-type" name="messageType" placeholder="ADT^A01"></label>
<label>Outcome <select id="q-outcome" name="outcome"><option value="">any</option><option>stored</option><option>converted</option><option>dead-lettered</option><option>duplicate</option></select></label>
<button type="submit">Search</button>
</form>
<table id="results"><thead><tr><th>Received</th><th>Control id</th><th>Type</th><th>Sender</th><th>ACK</th><th>Outcome</th><th></th></tr></thead><tbody></tbody></table>
<button id="next-page" type="button" hidden>Next page</button>
</section>
<section id="channels" hidden><h2>Channels</h2><table><thead><tr><th>Channel</th><th>Listener</th><th>Connections</th><th>Messages/s (60 s)</th><th>ACK codes (1 h)</th><th>Transform lag</th><th>Dead letters waiting</th><th>Oldest</th></tr></thead><tbody id="channels-body"></tbody></table><ul id="channels-unknown"></ul></section>
<section id="queue" hidden><h2>Reconciliation queue</h2><div id="queue-body"></div></section>
<section id="detail" hidden><h2 id="detail-title"></h2><dl id="detail-meta"></dl><div id="detail-extra"></div></section>
<p id="message" role="status"></p>
</main>
</body>
</html>
`;

export const UI_CSS = `body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f8fa}
header{display:flex;gap:1rem;align-items:center;padding:.5rem 1rem;background:#1d3b5a;color:#fff}
header h1{font-size:1.1rem;margin:0}#who{flex:1;opacity:.85}
nav button{margin-left:.4rem}main{padding:1rem}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;font-size:.9rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;background:#fff;padding:.5rem;border:1px solid #d0d7de}
dt{font-weight:600}dd{margin:0}.error{color:#b42318}.overdue{color:#b42318;font-weight:600}
label{margin-right:.8rem}form{margin:.5rem 0}pre{background:#fff;border:1px solid #d0d7de;padding:.5rem;white-space:pre-wrap}
.actions{margin:.5rem 0;padding:.5rem;background:#fff;border:1px solid #d0d7de}.actions input{width:24rem}
textarea{width:100%;min-height:12rem;font-family:ui-monospace,monospace;font-size:.85rem}
`;

export const UI_JS = `'use strict';
(function () {
  var csrf = '';
  var role = '';
  // What the queue says once it has reloaded after a group decision.
  var queueNote = '';
  var $ = function (id) { return document.getElementById(id); };
  var show = function (id) {
    ['login', 'search', 'queue', 'channels', 'detail'].forEach(function (s) { $(s).hidden = s !== id; });
  };
  var el = function (tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  };
  var say = function (text) { $('message').textContent = text || ''; };
  var api = function (method, path, body) {
    var headers = {};
    if (method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(path, { method: method, headers: headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (r.status === 401) { loggedOut(); }
          if (!r.ok) throw new Error((j && j.error) || ('HTTP ' + r.status));
          return j;
        });
      });
  };
  // A GET whose answer may link its next page (Link: <URL>; rel="next"): { body, next: URL or null }.
  var page = function (path) {
    return fetch(path, { credentials: 'same-origin' }).then(function (r) {
      return r.json().then(function (j) {
        if (r.status === 401) { loggedOut(); }
        if (!r.ok) throw new Error((j && j.error) || ('HTTP ' + r.status));
        var m = /<([^>]+)>;\\s*rel="next"/.exec(r.headers.get('link') || '');
        return { body: j, next: m ? m[1] : null };
      });
    });
  };
  // A real replay runs as a job (async: true, 202): poll it until it is done or failed, then
  // hand its result (the synchronous answer) on, or its reason as the error.
  var replayJob = function (path, body) {
    return api('POST', path, Object.assign({ async: true }, body)).then(function poll(job) {
      if (job.state === 'done') return job.result;
      if (job.state === 'failed') throw new Error(job.error.message);
      say('replay running (started ' + job.startedAt + ')…');
      return new Promise(function (ok) { setTimeout(ok, 1000); }).then(function () { return api('GET', '/api/jobs/' + job.id); }).then(poll);
    });
  };
  var refPath = function (ref) { return encodeURIComponent(ref.topic) + '/' + ref.partition + '/' + ref.offset; };
  var age = function (s) { return s >= 3600 ? Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min' : Math.floor(s / 60) + ' min'; };

  function loggedIn(s) {
    csrf = s.csrfToken; role = s.role;
    $('who').textContent = s.user + ' (' + s.role + ')';
    $('nav').hidden = false;
    openSearch();
  }
  function loggedOut() {
    csrf = ''; role = '';
    $('who').textContent = '';
    $('nav').hidden = true;
    show('login');
  }
  function openSearch() { show('search'); say(''); }

  function search(ev) {
    ev.preventDefault();
    var q = new URLSearchParams();
    [['controlId', 'q-control'], ['messageType', 'q-type'], ['outcome', 'q-outcome']].forEach(function (p) { if ($(p[1]).value) q.set(p[0], $(p[1]).value); });
    searchPage('/api/messages?' + q.toString(), 1);
  }

  // One page of results; the API's Link rel="next" (a keyset cursor) becomes the "Next page" button.
  function searchPage(path, n) {
    page(path).then(function (r) {
      var list = r.body;
      var body = $('results').tBodies[0];
      body.replaceChildren();
      list.forEach(function (m) {
        var tr = el('tr');
        [m.receivedAt, m.controlId, m.messageType, (m.sendingApplication || '-') + ' | ' + (m.sendingFacility || '-'), m.ackCode, m.outcome].forEach(function (v) { tr.appendChild(el('td', v)); });
        var td = el('td'); var b = el('button', 'Open', { type: 'button' });
        b.addEventListener('click', function () { openMessage(m.ref); });
        td.appendChild(b); tr.appendChild(td); body.appendChild(tr);
      });
      var next = $('next-page');
      next.hidden = !r.next;
      next.onclick = r.next ? function () { searchPage(r.next, n + 1); } : null;
      say(list.length + ' message(s)' + (n > 1 || r.next ? ', page ' + n : ''));
    }).catch(function (e) { say(e.message); });
  }

  function meta(pairs) {
    var dl = $('detail-meta'); dl.replaceChildren();
    pairs.forEach(function (p) { dl.appendChild(el('dt', p[0])); dl.appendChild(el('dd', p[1] === null || p[1] === undefined || p[1] === '' ? '-' : p[1])); });
  }

  function openMessage(ref) {
    api('GET', '/api/messages/' + refPath(ref)).then(function (d) {
      var m = d.message;
      show('detail');
      $('detail-title').textContent = 'Message ' + (m.controlId || '(no control id)');
      meta([['type', m.messageType], ['sender', (m.sendingApplication || '-') + ' | ' + (m.sendingFacility || '-')], ['received', m.receivedAt], ['ACK', m.ackCode], ['outcome', m.outcome],
        ['charset', (m.charset || '-') + ' (' + (m.charsetSource || '-') + ')'], ['repairs', m.repairs.join(', ')], ['record', m.ref.topic + ' ' + m.ref.partition + ':' + m.ref.offset]]);
      var extra = $('detail-extra'); extra.replaceChildren();
      extra.appendChild(el('h3', 'Lineage'));
      var ul = el('ul', null, { id: 'lineage' });
      d.bundles.forEach(function (b) { ul.appendChild(el('li', 'Bundle ' + b.ref.topic + ' ' + b.ref.partition + ':' + b.ref.offset + ': ' + b.resources.join(', '))); });
      d.deadLetters.forEach(function (l) {
        var li = el('li', 'dead letter ' + l.ref.partition + ':' + l.ref.offset + ' ' + l.category + ' (' + l.status + ') ');
        var b = el('button', 'Open dead letter', { type: 'button' });
        b.addEventListener('click', function () { openDeadLetter(l.ref); });
        li.appendChild(b); ul.appendChild(li);
      });
      if (m.resubmitOf) {
        var from = el('li', 'resubmitted by an operator in place of dead letter ' + m.resubmitOf.partition + ':' + m.resubmitOf.offset + ' ');
        var fb = el('button', 'Open dead letter', { type: 'button', class: 'resubmit-of' });
        fb.addEventListener('click', function () { openDeadLetter(m.resubmitOf); });
        from.appendChild(fb); ul.insertBefore(from, ul.firstChild);
      }
      d.deadLetters.forEach(function (l) {
        if (!l.resubmittedAs) return;
        var li = el('li', 'dead letter ' + l.ref.partition + ':' + l.ref.offset + ' resubmitted as ' + l.resubmittedAs.topic + ' ' + l.resubmittedAs.partition + ':' + l.resubmittedAs.offset + ' ');
        var b = el('button', 'Open resubmitted message', { type: 'button', class: 'resubmitted-as' });
        b.addEventListener('click', function () { openMessage(l.resubmittedAs); });
        li.appendChild(b); ul.appendChild(li);
      });
      extra.appendChild(ul);
      if (role !== 'viewer') extra.appendChild(contentBox(m.ref, null));
    }).catch(function (e) { say(e.message); });
  }

  // "Show content": the reason is required and the API audits the view before it answers.
  // On a waiting dead letter the text can then be edited and resubmitted.
  function contentBox(ref, letter) {
    var box = el('div', null, { class: 'actions', id: 'content-box' });
    var reason = el('input', null, { id: 'content-reason', placeholder: 'why you need to see the content (written to the audit trail first)' });
    var btn = el('button', 'Show content', { type: 'button', id: 'show-content' });
    var pre = el('pre', null, { id: 'content', hidden: '' });
    box.appendChild(el('label', 'Reason to view ')); box.appendChild(reason); box.appendChild(btn); box.appendChild(pre);
    btn.addEventListener('click', function () {
      if (!reason.value.trim()) { say('a reason is required to show content'); reason.focus(); return; }
      api('POST', '/api/records/' + refPath(ref) + '/content', { reason: reason.value }).then(function (r) {
        var text = r.text !== undefined ? (r.text === null ? '(bytes that could not be decoded)' : r.text.split('\\r').filter(Boolean).join('\\n')) : JSON.stringify(r.bundle, null, 2);
        pre.textContent = text; pre.hidden = false;
        say('content shown; audit record ' + r.audit);
        // An outbound dead letter is not edited: the engine built it (the API answers 409 and says why).
        if (letter && letter.status === 'waiting' && letter.direction !== 'outbound' && r.text !== undefined) box.appendChild(editor(letter, r.text === null ? '' : text));
      }).catch(function (e) { say(e.message); });
    });
    return box;
  }

  // Segment lines: "- " removed, "+ " added, unchanged runs counted (as the API's diff).
  function segmentDiff(before, after) {
    var a = before.split(/\\r\\n|\\n|\\r/).filter(Boolean), b = after.split(/\\r\\n|\\n|\\r/).filter(Boolean);
    var n = a.length, m = b.length, i, j, lcs = [];
    for (i = 0; i <= n; i++) { lcs.push(new Array(m + 1).fill(0)); }
    for (i = n - 1; i >= 0; i--) for (j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    var out = [], same = 0;
    var flush = function () { if (same) out.push('  (' + same + ' segment' + (same === 1 ? '' : 's') + ' unchanged)'); same = 0; };
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { same++; i++; j++; }
      else if (j < m && (i === n || lcs[i][j + 1] > lcs[i + 1][j])) { flush(); out.push('+ ' + b[j++]); }
      else { flush(); out.push('- ' + a[i++]); }
    }
    flush();
    return out;
  }

  function editor(d, text) {
    var box = el('div', null, { id: 'resubmit-box' });
    box.appendChild(el('h3', 'Edit and resubmit'));
    var area = el('textarea', null, { id: 'edit-text', spellcheck: 'false' }); area.value = text;
    var why = el('input', null, { id: 'resubmit-reason', placeholder: 'why this correction (written to the audit trail)' });
    var diffBtn = el('button', 'Show diff', { type: 'button', id: 'edit-diff' });
    var go = el('button', 'Resubmit', { type: 'button', id: 'resubmit', disabled: '' });
    var diff = el('pre', null, { id: 'resubmit-diff', hidden: '' });
    area.addEventListener('input', function () { go.disabled = true; });
    diffBtn.addEventListener('click', function () {
      var lines = segmentDiff(text, area.value);
      diff.textContent = lines.some(function (l) { return l.charAt(0) !== ' '; }) ? lines.join('\\n') : 'no change';
      diff.hidden = false; go.disabled = false;
    });
    go.addEventListener('click', function () {
      api('POST', '/api/dead-letters/' + refPath(d.ref) + '/resubmit', { text: area.value, reason: why.value }).then(function (r) {
        openDeadLetter(d.ref, 'resubmitted as ' + r.newRecord.topic + ' ' + r.newRecord.partition + ':' + r.newRecord.offset + '; audit record ' + r.decision.id);
      }).catch(function (e) { say(e.message); });
    });
    box.appendChild(area); box.appendChild(el('label', 'Reason ')); box.appendChild(why);
    box.appendChild(diffBtn); box.appendChild(go); box.appendChild(diff);
    return box;
  }

  // The groups an analyst opened: they stay open when the queue reloads (after a decision).
  var openGroups = {};

  function openQueue() {
    // Emptied at once, so nothing of an earlier visit is clicked while the queue reloads.
    $('queue-body').replaceChildren();
    api('GET', '/api/queue').then(function (queues) {
      show('queue'); say(queueNote); queueNote = '';
      var root = $('queue-body'); root.replaceChildren();
      queues.forEach(function (c) {
        // Outbound: a write-back destination's dead letters (its receiver refused what we sent).
        var outbound = c.direction === 'outbound';
        var label = outbound ? 'Outbound to destination ' + c.destination : c.channel;
        root.appendChild(el('h3', label + ': ' + c.waiting + ' waiting, ' + c.overdue + ' overdue (SLA ' + c.slaMinutes + ' min)' + (c.waiting ? ', oldest ' + age(c.oldestAgeSeconds) : ''), outbound ? { class: 'outbound', 'data-destination': c.destination } : {}));
        c.groups.forEach(function (g, i) {
          var key = c.direction + '|' + c.channel + '|' + g.category + '|' + g.stage + '|' + g.cause;
          var box = el('div', null, { class: 'group', id: 'group-' + (outbound ? 'out-' : '') + c.channel + '-' + i });
          box.appendChild(el('h4', g.category + ' at ' + g.stage + ' (' + g.count + '): ' + g.cause));
          box.appendChild(el('p', g.count + ' waiting, oldest ' + age(g.oldestAgeSeconds) + ', ' + g.overdue + ' overdue', { class: 'group-figures' + (g.overdue ? ' overdue' : '') }));
          var queue = outbound ? { destination: c.destination } : { channel: c.channel };
          if (role !== 'viewer') box.appendChild(groupActions(queue, g, 'group-actions-' + (outbound ? 'out-' : '') + c.channel + '-' + i));
          var members = el('div', null, { class: 'group-members' });
          var toggle = el('button', 'Open group', { type: 'button', class: 'open-group' });
          var open = function () {
            openGroups[key] = true; toggle.textContent = 'Close group';
            membersPage(members, g.members, 1);
          };
          toggle.addEventListener('click', function () {
            if (openGroups[key]) { delete openGroups[key]; toggle.textContent = 'Open group'; members.replaceChildren(); }
            else open();
          });
          box.appendChild(toggle); box.appendChild(members); root.appendChild(box);
          if (openGroups[key]) open();
        });
      });
    }).catch(function (e) { say(e.message); });
  }

  // One page of a group's members (oldest first); a "Next page" button when the API links one.
  function membersPage(box, path, n) {
    page(path).then(function (r) {
      box.replaceChildren();
      var t = el('table'); var tb = el('tbody');
      r.body.forEach(function (d) {
        var tr = el('tr', null, { 'data-control-id': d.controlId || '' });
        tr.appendChild(el('td', d.controlId)); tr.appendChild(el('td', d.messageType));
        tr.appendChild(el('td', age(d.ageSeconds), d.overdue ? { class: 'overdue' } : {}));
        tr.appendChild(el('td', [d.assignee ? 'assigned to ' + d.assignee : '', d.escalated ? 'escalated' : ''].filter(Boolean).join(', ')));
        var td = el('td'); var b = el('button', 'Open', { type: 'button' });
        b.addEventListener('click', function () { openDeadLetter(d.ref); });
        td.appendChild(b); tr.appendChild(td); tb.appendChild(tr);
      });
      t.appendChild(tb); box.appendChild(t);
      if (n > 1 || r.next) box.appendChild(el('span', 'page ' + n + ' ', { class: 'page-number' }));
      if (r.next) {
        var next = el('button', 'Next page', { type: 'button', class: 'next-members' });
        next.addEventListener('click', function () { membersPage(box, r.next, n + 1); });
        box.appendChild(next);
      }
    }).catch(function (e) { say(e.message); });
  }

  // Figures the console cannot know show as "unknown", with the reason listed under the table.
  function openChannels() {
    api('GET', '/api/channels').then(function (channels) {
      show('channels'); say('');
      var body = $('channels-body'); body.replaceChildren();
      var notes = $('channels-unknown'); notes.replaceChildren();
      var reasons = {};
      var cell = function (v) { return v === null || v === undefined ? 'unknown' : v; };
      channels.forEach(function (c) {
        var tr = el('tr', null, { 'data-channel': c.name });
        var acks = Object.keys(c.ackCodes).map(function (k) { return k + ' ' + c.ackCodes[k]; }).join(', ') || 'none';
        [c.name, cell(c.listener), cell(c.connections), c.messagesPerSecond, acks, cell(c.transformLag), c.deadLetters.waiting + (c.deadLetters.overdue ? ' (' + c.deadLetters.overdue + ' overdue)' : ''),
          c.deadLetters.oldestAgeSeconds === null ? '' : age(c.deadLetters.oldestAgeSeconds)].forEach(function (v) { tr.appendChild(el('td', v)); });
        body.appendChild(tr);
        Object.keys(c.unknown).forEach(function (k) { if (k.indexOf('.') < 0) reasons[k + ': ' + c.unknown[k]] = true; });
      });
      Object.keys(reasons).forEach(function (r) { notes.appendChild(el('li', r)); });
    }).catch(function (e) { say(e.message); });
  }

  function openDeadLetter(ref, note) {
    api('GET', '/api/dead-letters/' + refPath(ref)).then(function (d) {
      show('detail'); say(note || '');
      var outbound = d.direction === 'outbound';
      $('detail-title').textContent = (outbound ? 'Outbound dead letter ' : 'Dead letter ') + (d.controlId || '') + ' (' + d.status + ')';
      meta([[outbound ? 'destination' : 'channel', d.channel], ['status', d.status], ['category', d.category + ' at ' + d.stage], ['cause', d.message], ['attempts', d.attempts], ['waiting', age(d.ageSeconds) + (d.overdue ? ' (overdue)' : '')],
        ['assigned to', d.assignee], ['escalated', d.escalated ? 'yes' : 'no'], ['record', d.ref.topic + ' ' + d.ref.partition + ':' + d.ref.offset]]);
      var extra = $('detail-extra'); extra.replaceChildren();
      if (role !== 'viewer' && d.status === 'waiting') extra.appendChild(actions(d));
      if (role === 'viewer') extra.appendChild(el('p', 'Read only: decisions need the operator role.', { id: 'read-only' }));
      if (role !== 'viewer') extra.appendChild(contentBox(d.ref, d));
      if (d.resubmittedAs) {
        var rb = el('button', 'Open resubmitted message', { type: 'button', id: 'open-resubmitted' });
        rb.addEventListener('click', function () { openMessage(d.resubmittedAs); });
        extra.appendChild(rb);
      }
      extra.appendChild(el('h3', 'History'));
      var t = el('table', null, { id: 'history' }); var tb = el('tbody');
      d.history.forEach(function (h) {
        var tr = el('tr');
        var what = (h.action || h.kind) + (h.outcome && h.outcome !== 'recorded' ? ' (' + h.outcome + ')' : '');
        var detail = h.assignee ? 'to ' + h.assignee : h.newRecord ? 'as ' + h.newRecord.partition + ':' + h.newRecord.offset : '';
        [h.at, h.operator, what, detail, h.reason || ''].forEach(function (v) { tr.appendChild(el('td', v)); });
        tb.appendChild(tr);
      });
      t.appendChild(tb); extra.appendChild(t);
    }).catch(function (e) { say(e.message); });
  }

  // One decision on every dead letter of the group, as one audit record (POST /api/queue/decisions).
  // queue: { channel: NAME } or { destination: NAME }, as the API takes it.
  function groupActions(queue, g, id) {
    var box = el('div', null, { class: 'actions group-actions', id: id });
    var reason = el('input', null, { class: 'group-reason', placeholder: 'reason for all ' + g.count + ' (written to the audit trail)' });
    box.appendChild(reason);
    ['resolve', 'discard', 'escalate'].forEach(function (a) {
      var b = el('button', a.charAt(0).toUpperCase() + a.slice(1) + ' all ' + g.count, { type: 'button', 'data-action': a });
      b.addEventListener('click', function () {
        api('POST', '/api/queue/decisions', Object.assign({ category: g.category, cause: g.cause, action: a, reason: reason.value }, queue))
          .then(function (r) { queueNote = a + ': ' + r.count + ' dead letter(s), audit record ' + r.decision.id; openQueue(); })
          .catch(function (e) { say(e.message); });
      });
      box.appendChild(b);
    });
    // Group replay: the dry run's diff first; the replay button only after it.
    var diff = el('pre', null, { class: 'group-diff', hidden: '' });
    var dry = el('button', 'Dry-run replay of all ' + g.count, { type: 'button', 'data-action': 'replay-dry' });
    var go = el('button', 'Replay all ' + g.count, { type: 'button', 'data-action': 'replay', disabled: '' });
    var body = function (dryRun) { return Object.assign({ category: g.category, cause: g.cause, dryRun: dryRun, reason: reason.value || undefined }, queue); };
    // An inbound replay converts; an outbound one delivers to the destination's receiver.
    var done = function (c) { return queue.destination ? [c.selected - c.skipped, 'would be sent', c.delivered, 'delivered'] : [c.converted, 'would convert', c.converted, 'converted']; };
    dry.addEventListener('click', function () {
      api('POST', '/api/queue/replay', body(true)).then(function (r) {
        diff.textContent = (r.diff.join('\\n') || 'no change') + '\\n' + done(r.counts)[0] + ' of ' + r.count + ' ' + done(r.counts)[1]; diff.hidden = false; go.disabled = false;
      }).catch(function (e) { say(e.message); });
    });
    go.addEventListener('click', function () {
      replayJob('/api/queue/replay', body(false)).then(function (r) { queueNote = 'replay ' + r.replayId + ': ' + r.outcome + ', ' + done(r.counts)[2] + ' of ' + r.count + ' ' + done(r.counts)[3]; openQueue(); })
        .catch(function (e) { say(e.message); });
    });
    box.appendChild(dry); box.appendChild(go); box.appendChild(diff);
    return box;
  }

  function actions(d) {
    var box = el('div', null, { class: 'actions' });
    var reason = el('input', null, { id: 'reason', placeholder: 'reason (written to the audit trail)' });
    box.appendChild(el('label', 'Reason ')); box.appendChild(reason);
    var diff = el('pre', null, { id: 'diff', hidden: '' });
    var dry = el('button', 'Dry run', { type: 'button', id: 'dry-run' });
    var go = el('button', 'Replay', { type: 'button', id: 'replay', disabled: '' });
    var path = '/api/dead-letters/' + refPath(d.ref);
    dry.addEventListener('click', function () {
      api('POST', path + '/replay', { dryRun: true }).then(function (r) {
        diff.textContent = r.diff.join('\\n') || 'no change'; diff.hidden = false; go.disabled = false;
      }).catch(function (e) { say(e.message); });
    });
    go.addEventListener('click', function () {
      replayJob(path + '/replay', { dryRun: false, reason: reason.value }).then(function (r) {
        say('replay ' + r.replayId + ': ' + r.outcome + ', ' + (d.direction === 'outbound' ? r.counts.delivered + ' delivered' : r.counts.converted + ' converted')); openDeadLetter(d.ref);
      }).catch(function (e) { say(e.message); });
    });
    box.appendChild(el('br')); box.appendChild(dry); box.appendChild(go);
    ['resolve', 'discard', 'escalate'].forEach(function (a) {
      var b = el('button', a.charAt(0).toUpperCase() + a.slice(1), { type: 'button', id: 'decide-' + a });
      b.addEventListener('click', function () {
        api('POST', path + '/decisions', { action: a, reason: reason.value }).then(function () { openDeadLetter(d.ref); }).catch(function (e) { say(e.message); });
      });
      box.appendChild(b);
    });
    var assignee = el('input', null, { id: 'assignee', placeholder: 'person', style: 'width:10rem' });
    var assign = el('button', 'Assign', { type: 'button', id: 'decide-assign' });
    assign.addEventListener('click', function () {
      api('POST', path + '/decisions', { action: 'assign', assignee: assignee.value, reason: reason.value }).then(function () { openDeadLetter(d.ref); }).catch(function (e) { say(e.message); });
    });
    box.appendChild(el('br')); box.appendChild(el('label', 'Assign to ')); box.appendChild(assignee); box.appendChild(assign);
    box.appendChild(diff);
    return box;
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('login').addEventListener('submit', function (ev) {
      ev.preventDefault();
      $('login-error').textContent = '';
      fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: $('login-user').value, password: $('login-password').value }) })
        .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error); return j; }); })
        .then(function (s) { $('login-password').value = ''; loggedIn(s); })
        .catch(function (e) { $('login-error').textContent = e.message; });
    });
    $('search-form').addEventListener('submit', search);
    $('nav-search').addEventListener('click', openSearch);
    $('nav-queue').addEventListener('click', openQueue);
    $('nav-channels').addEventListener('click', openChannels);
    $('logout').addEventListener('click', function () { api('DELETE', '/api/session').then(loggedOut, loggedOut); });
    fetch('/api/session', { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json().then(loggedIn) : loggedOut(); }, loggedOut);
  });
})();
`;
