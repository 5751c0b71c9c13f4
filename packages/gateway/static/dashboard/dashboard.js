// Ferry's dashboard: renders the snapshots /events streams (one `status` event a second).
// DOM is built with textContent only: names and log lines are shown, never interpreted.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const count = new Intl.NumberFormat('en');
  const rate = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  const ROUTE_FIELDS = ['received', 'sent', 'failed', 'inFlight', 'deadLettered'];
  const announcer = $('announce');
  /** connector name → the state shown last, to announce changes only */
  const shownState = new Map();
  let lastErrorSeq = -1;

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${rate.format(n / 1024)} KiB`;
    return `${rate.format(n / 1024 / 1024)} MiB`;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  }

  /** up, down or stopped: what a reader needs; the connector's own word goes beside it */
  function shownStateOf(c) {
    if (c.up) return 'up';
    if (c.state === 'idle' || c.state === 'stopped') return 'stopped';
    return 'down';
  }

  function announce(text) {
    const p = document.createElement('p');
    p.textContent = text;
    announcer.append(p);
    while (announcer.childElementCount > 5) announcer.firstElementChild.remove();
  }

  /** the row of `key` in `tbody`, made by `make` when missing; rows of keys not in `keys` go */
  function syncRows(tbody, keys, make) {
    const rows = new Map([...tbody.rows].map((r) => [r.dataset.key, r]));
    for (const [k, r] of rows) if (!keys.includes(k)) r.remove();
    return keys.map((k, i) => {
      let r = rows.get(k);
      if (!r) {
        r = make(k);
        r.dataset.key = k;
      }
      if (tbody.rows[i] !== r) tbody.insertBefore(r, tbody.rows[i] || null);
      return r;
    });
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function renderConnectors(connectors) {
    const tbody = $('connectors').tBodies[0];
    const rows = syncRows(tbody, connectors.map((c) => c.name), () =>
      el('tr', {}, el('th', { scope: 'row' }), el('td'), el('td'), el('td', { class: 'endpoint' }), el('td', { class: 'num' }), el('td', { class: 'num spool' })),
    );
    connectors.forEach((c, i) => {
      const r = rows[i];
      const state = shownStateOf(c);
      r.dataset.connector = c.name;
      r.dataset.state = state;
      r.dataset.up = String(c.up);
      const [name, type, st, peer, clients, spooled] = r.cells;
      setText(name, c.name);
      setText(type, `${c.type} (${c.role})`);
      let badge = st.querySelector('.badge');
      if (!badge) {
        badge = el('span', { class: 'badge' });
        st.replaceChildren(badge, el('span', { class: 'detail' }));
      }
      badge.dataset.state = state;
      setText(badge, state);
      setText(st.querySelector('.detail'), c.state === state ? '' : c.state);
      setText(peer, c.peer || '—');
      setText(clients, c.clients === undefined ? '—' : count.format(c.clients));
      // messages a listener accepted while this destination was away, kept on disk (docs/spool.md)
      spooled.dataset.value = String(c.spooled ? c.spooled.messages : 0);
      spooled.dataset.nonzero = String(Boolean(c.spooled && c.spooled.messages > 0));
      setText(spooled, c.spooled ? `${count.format(c.spooled.messages)} · ${bytes(c.spooled.bytes)}` : '—');
      const before = shownState.get(c.name);
      if (before !== undefined && before !== state) announce(`Connector ${c.name} is ${state}${c.state !== state ? ` (${c.state})` : ''}.`);
      shownState.set(c.name, state);
    });
  }

  function renderRoutes(routes) {
    const tbody = $('routes').tBodies[0];
    const rows = syncRows(tbody, routes.map((r) => r.name), () => {
      const tr = el('tr', {}, el('th', { scope: 'row' }), el('td'), el('td'));
      for (const f of ROUTE_FIELDS) tr.append(el('td', { class: 'num', 'data-field': f }, el('span', { class: 'value' }), el('span', { class: 'rate' })));
      return tr;
    });
    routes.forEach((route, i) => {
      const r = rows[i];
      r.dataset.route = route.name;
      const [name, from, to] = r.cells;
      setText(name, route.name);
      setText(from, route.from);
      from.className = 'endpoint';
      const dests = route.to.map((t) => el('div', { class: 'endpoint' }, t));
      if (route.deadLetter) dests.push(el('div', { class: 'endpoint dead' }, `dead letters → ${route.deadLetter}`));
      if (to.textContent !== dests.map((d) => d.textContent).join('')) to.replaceChildren(...dests);
      for (const f of ROUTE_FIELDS) {
        const cell = r.querySelector(`td[data-field="${f}"]`);
        const value = route[f];
        cell.dataset.value = String(value);
        cell.dataset.nonzero = String(value > 0);
        setText(cell.querySelector('.value'), f === 'inFlight' ? `${count.format(value)} / ${count.format(route.maxInFlight)}` : count.format(value));
        setText(cell.querySelector('.rate'), f === 'inFlight' ? '' : `${rate.format(route.rates[f])}/s`);
      }
    });
  }

  function renderErrors(errors, logged) {
    const list = $('errors');
    setText($('errors-count'), logged > errors.length ? `(last ${errors.length} of ${count.format(logged)})` : errors.length ? `(${errors.length})` : '');
    $('no-errors').hidden = errors.length > 0;
    const newest = errors.length ? errors[0].seq : lastErrorSeq;
    if (newest === lastErrorSeq && list.childElementCount === errors.length) return;
    const fresh = lastErrorSeq < 0 ? [] : errors.filter((e) => e.seq > lastErrorSeq);
    lastErrorSeq = newest;
    list.replaceChildren(
      ...errors.map((e) =>
        el(
          'li',
          { 'data-seq': String(e.seq) },
          el('span', { class: 'level', 'data-level': e.level }, e.level),
          el('time', { datetime: e.time }, new Date(e.time).toLocaleTimeString()),
          el('span', { class: 'message' }, e.message),
          ...(e.detail ? [el('code', { class: 'fields' }, e.detail)] : []),
        ),
      ),
    );
    if (fresh.length === 1) announce(`New ${fresh[0].level}: ${fresh[0].message}`);
    else if (fresh.length > 1) announce(`${fresh.length} new warnings or errors.`);
  }

  function renderTotals(s) {
    const up = s.connectors.filter((c) => c.up).length;
    const upNode = $('t-up');
    setText(upNode, `${up} / ${s.connectors.length}`);
    upNode.dataset.bad = String(up < s.connectors.length);
    for (const f of ROUTE_FIELDS) {
      const total = s.routes.reduce((n, r) => n + r[f], 0);
      const node = $(`t-${f}`);
      node.dataset.value = String(total);
      node.dataset.bad = String((f === 'failed' || f === 'deadLettered') && total > 0);
      const perSecond = f === 'inFlight' ? '' : `${rate.format(s.routes.reduce((n, r) => n + r.rates[f], 0))}/s`;
      if (node.dataset.shown !== `${total} ${perSecond}`) {
        node.dataset.shown = `${total} ${perSecond}`;
        node.replaceChildren(count.format(total), ...(perSecond ? [el('span', { class: 'rate' }, perSecond)] : []));
      }
    }
  }

  function render(s) {
    setText($('gateway-id'), s.gateway.id);
    const ready = $('ready');
    const down = s.connectors.filter((c) => !c.up).length;
    ready.dataset.state = s.gateway.ready ? 'up' : 'down';
    setText(ready, s.gateway.ready ? 'ready' : `not ready: ${down} connector${down === 1 ? '' : 's'} down`);
    setText($('stream'), `live · updated ${new Date(s.gateway.time).toLocaleTimeString()}`);
    document.title = down > 0 ? `(${down} down) Ferry dashboard` : 'Ferry dashboard';
    renderTotals(s);
    renderConnectors(s.connectors);
    renderRoutes(s.routes);
    renderErrors(s.errors, s.errorsLogged);
    document.body.dataset.updated = s.gateway.time;
  }

  // the admin port's token, when the page was opened with one (RFC 6750 §2.3): an EventSource
  // cannot send an Authorization header, so the stream and the data links take it in the query
  const token = new URLSearchParams(location.search).get('access_token');
  const withToken = (path) => (token === null ? path : `${path}?access_token=${encodeURIComponent(token)}`);
  for (const a of document.querySelectorAll('a[data-token]')) a.setAttribute('href', withToken(a.getAttribute('href')));

  const events = new EventSource(withToken('events'));
  events.addEventListener('status', (e) => render(JSON.parse(e.data)));
  events.addEventListener('error', () => {
    setText($('stream'), 'connection lost · reconnecting…');
    $('ready').dataset.state = 'unknown';
    setText($('ready'), 'state unknown');
  });
})();
