// Identity, socket and sending: the widget side of docs/widget-protocol.md.

import { Manager } from 'socket.io-client';
import { makeStore } from './storage.js';
import { createChat } from './chat.js';
import { createUI, fileLimits, humanSize } from './ui.js';
import { chooseLanguage, translator } from './i18n.js';

const ACK_TIMEOUT = 5000; // message acks; a lost ack means "send again" (client_id makes it safe)
const RESUME_TIMEOUT = 10000;
const RESUME_PAGE = 500; // the server answers at most this many messages per resume
const MAX_BODY = 4000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Exponential backoff with jitter: ~1s, 2s, 4s … capped at 30s. */
function backoff(attempt) {
  const base = Math.min(30000, 1000 * Math.pow(2, Math.max(0, attempt - 1)));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** A client_id: 1-64 chars of A-Z a-z 0-9 _ - */
function newClientId() {
  const c = window.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && c.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = (Math.random() * 256) | 0;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function isUnauthorized(err) {
  const d = err && err.data;
  const code = d && (d.code || (Array.isArray(d) && d[0] && d[0].code));
  return code === 'unauthorized' || (err && err.message === 'unauthorized');
}

/** A conversation link from an email (`#zora-code=…`, single use): taken once, then removed from the URL. */
function linkCode() {
  const m = /(?:^#|&)zora-code=([A-Za-z0-9_-]+)/.exec(location.hash || '');
  if (!m) return null;
  try {
    history.replaceState(null, '', location.pathname + location.search);
  } catch (_) {
    // some sandboxes forbid it: the code stays visible (it works once anyway)
  }
  return m[1];
}

function domReady() {
  return document.body
    ? Promise.resolve()
    : new Promise((r) => document.addEventListener('DOMContentLoaded', () => r(), { once: true }));
}

/**
 * Starts the widget and returns the public API (window.Zora).
 * @param {{shop: string, server: string, color: string, greeting: string, launcherText: string, locale: string, position: string}} cfg
 */
export function startWidget(cfg) {
  let resolveReady, rejectReady;
  const ready = new Promise((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {}); // a failed start is reported on the page, not as an unhandled rejection

  let ui = null;
  let wantOpen = false;
  let asked = chooseLanguage(cfg.locale); // null: none Zora speaks, so the shop's main language
  let t = translator(asked);
  let connKey = 'connecting';
  const setConnection = (key) => {
    connKey = key;
    if (ui) ui.setConnection(key);
  };

  const api = {
    ready,
    open() {
      if (ui) ui.open();
      else wantOpen = true;
    },
    close() {
      if (ui) ui.close();
      else wantOpen = false;
    },
    /** Sends a message as if typed in the composer; returns its client_id (or null). */
    send(text) {
      return send(String(text == null ? '' : text));
    },
    /** Signs the shopper out: the server revokes their tokens and closes the socket; the widget starts over. */
    signOut() {
      return started.then(() => fetch(cfg.server + '/widget/signout', { method: 'POST', headers: { Authorization: 'Bearer ' + token } }));
    },
    /** Switches the widget's language (a storefront's language picker can call this). */
    setLocale(locale) {
      t = translator((asked = chooseLanguage(locale)) || (shopConfig && shopConfig.language));
      if (ui) ui.setTranslator(t);
      return t.lang;
    },
    get locale() {
      return t.lang;
    },
    /** The settings page's live preview: shows unsaved settings (the same shape as the session's `widget`). */
    preview(c) {
      shopConfig = Object.assign({}, shopConfig, c);
      applyShopConfig();
    },
  };

  if (!cfg.shop) {
    console.warn('[zora] widget.js needs a data-shop attribute');
    rejectReady(new Error('missing data-shop'));
    return api;
  }

  const store = makeStore(cfg.shop);
  const chat = createChat(store);
  const lost = chat.load(); // messages whose file was still uploading when the page went away

  // The link's code goes with the first session request; the token this browser has is kept.
  let link = linkCode();
  if (link) {
    link = { code: link };
    wantOpen = true;
  }
  const waiting = []; // what needs the UI, once it exists
  const later = (f) => (ui ? f() : waiting.push(f));
  let token = store.get('token');
  let conversationId = chat.conversationId();
  let shopperId = null;
  let socket = null;
  let generation = 0; // bumps on every connect/disconnect: stale callbacks check it
  let resumed = false; // the current connection has answered `resume`
  let resumedOnce = false; // the first connection has answered `resume`
  let isReady = false; // ... and the UI exists: window.Zora.ready resolved, zora:ready dispatched
  let fatal = false;
  let refreshTimer = 0;
  let refreshing = null; // the in-flight session request
  let unauthorizedCount = 0;
  let refusedCount = 0;
  const inflight = new Set(); // client_ids with an outstanding ack
  const retryTimers = new Map(); // client_id -> timer
  const uploads = new Set(); // client_ids of this tab's messages whose file is still uploading
  let shopConfig = null; // the shop's widget settings (from /widget/session)
  let profileAsked = false;
  // Receipts for agent messages: the highest seq this widget has (delivered) and has shown (seen),
  // and what the server has acknowledged of each.
  const receipts = { delivered: 0, seen: 0 };
  const reported = { delivered: 0, seen: 0 };
  let unreadFrom = 0; // agent messages after this seq are unread (the server's seen watermark)

  // -- identity: POST /widget/session --------------------------------------------------------

  function setToken(value) {
    token = value || null;
    store.set('token', token);
  }

  async function requestSession(withToken) {
    const body = cfg.proxy ? {} : { shop: cfg.shop };
    if (withToken && token) body.token = token;
    if (link) Object.assign(body, link);
    // Through the shop's app proxy (same origin as the storefront), Shopify signs the request and
    // names the signed-in customer; otherwise straight to Zora, as an anonymous visitor.
    const url = cfg.proxy || cfg.server + '/widget/session';
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: cfg.proxy ? 'same-origin' : 'omit',
    });
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      // not JSON
    }
    if (res.ok && data && typeof data.token === 'string') return data;
    const error = (data && data.error) || {};
    const err = new Error(error.message || 'session request failed (' + res.status + ')');
    err.code = error.code || 'http_' + res.status;
    err.status = res.status;
    throw err;
  }

  function applySession(s) {
    setToken(s.token);
    link = null;
    shopperId = s.shopper_id || shopperId;
    if (s.widget && typeof s.widget === 'object') {
      shopConfig = s.widget;
      applyShopConfig();
    }
    if (s.conversation_id && s.conversation_id !== conversationId) {
      // Another conversation (new shopper, or the old token had expired): the cache is stale.
      const switched = !!conversationId;
      if (switched || chat.list.some((m) => m.seq != null)) chat.reset();
      conversationId = s.conversation_id;
      if (switched && socket && socket.connected) {
        // The open socket still speaks for the old identity: reconnect with the new token.
        socket.disconnect();
        connect();
      }
    }
    clearTimeout(refreshTimer);
    const ttl = Number(s.expires_in);
    if (ttl > 0) {
      // Refresh while the token is still valid, so the shopper keeps their conversation.
      const delay = Math.min(Math.max(ttl * 800, 30000), 0x7fffffff);
      refreshTimer = setTimeout(() => session(true).catch(() => {}), delay);
    }
  }

  /** Gets (or refreshes) the identity, retrying transient failures. Rejects only on fatal ones. */
  function session(withToken) {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const s = await requestSession(withToken);
          applySession(s);
          return s;
        } catch (err) {
          if (err.code === 'unknown_shop') throw err;
          if (link && err.status < 500 && err.status !== 429) {
            // Go on with the conversation this browser has. Another conversation: the shopper decides;
            // a used, expired or foreign link: say so.
            const asked = link;
            link = null;
            later(() =>
              err.code === 'confirm_switch'
                ? ui.askSwitch(() => {
                    link = Object.assign(asked, { switch: true });
                    session(true).catch(() => {});
                  })
                : ui.showFormError(t('linkOld')),
            );
            continue;
          }
          if (err.status === 400) {
            if (withToken && token) {
              // Our stored token is what the server does not like: start over without it.
              setToken(null);
              withToken = false;
              continue;
            }
            throw err;
          }
          // network error, 429, 5xx: try again later
          if (!resumedOnce) setConnection('connecting');
          await sleep(backoff(attempt));
        }
      }
    })();
    refreshing.then(
      () => (refreshing = null),
      () => (refreshing = null),
    );
    return refreshing;
  }

  function fail(err) {
    if (fatal) return;
    fatal = true;
    console.warn('[zora] chat unavailable:', err && err.message);
    clearTimeout(refreshTimer);
    if (socket) socket.close();
    setConnection(err && err.code === 'unknown_shop' ? 'noShop' : 'unavailable');
    if (ui) {
      ui.setState('error');
      ui.disable('unavailable');
    }
    rejectReady(err);
  }

  // -- the socket ---------------------------------------------------------------------------

  function connect() {
    if (fatal) return;
    if (socket) {
      socket.connect();
      return;
    }
    // The only transport in the bundle is websocket (build.mjs). The auth is a function, so every
    // (re)connect sends the newest token.
    socket = new Manager(cfg.server, { transports: ['websocket'] }).socket('/widget', { auth: (cb) => cb({ token }) });
    socket.on('connect', onConnect);
    socket.on('disconnect', onDisconnect);
    socket.on('connect_error', onConnectError);
    const ours = (ev) => ev && typeof ev === 'object' && !(ev.conversation_id && conversationId && ev.conversation_id !== conversationId);
    socket.on('message', (m) => {
      if (!ours(m)) return;
      chat.ingest([m], true);
      if (m.direction === 'agent') noteAgentMessages();
    });
    socket.on('status', (ev) => {
      if (ours(ev)) chat.applyStatus(ev);
    });
    socket.on('message_updated', (ev) => {
      if (ours(ev)) chat.applyChange(ev, false);
    });
    socket.on('message_deleted', (ev) => {
      if (ours(ev)) chat.applyChange(ev, true);
    });
    socket.on('message_files', (ev) => {
      if (ours(ev)) chat.applyFiles(ev);
    });
    socket.on('receipt', (ev) => {
      // Another tab of this shopper has shown the replies: no unread badge here either.
      if (ours(ev) && Number.isInteger(ev.seen_upto) && ev.seen_upto >= chat.maxAgentSeq() && ui) ui.clearUnread();
    });
  }

  // -- receipts: delivered / seen -----------------------------------------------------------

  function noteAgentMessages() {
    loadAi();
    receipts.delivered = Math.max(receipts.delivered, chat.maxAgentSeq());
    report('delivered');
    noteSeen();
  }

  function noteSeen() {
    if (!ui) return;
    receipts.seen = Math.max(receipts.seen, ui.visibleAgentSeq());
    report('seen');
  }

  function report(kind) {
    const upto = receipts[kind];
    if (!resumed || !socket || !socket.connected || upto <= reported[kind]) return;
    const gen = generation;
    socket.timeout(ACK_TIMEOUT).emit(kind, { upto_seq: upto }, (err, ack) => {
      if (gen !== generation) return; // the next resume reports again
      if (!err && ack && ack.ok === true) reported[kind] = Math.max(reported[kind], upto);
      else if (!err && ack && ack.error && ack.error.code === 'invalid_payload') reported[kind] = upto; // never fixable
      else setTimeout(() => report(kind), backoff(1));
    });
  }

  // -- the shop's settings and the pre-chat form ----------------------------------------------

  // The assistant's part of the widget (its streamed answers, the AI label, "Talk to a person") is a
  // file of its own, loaded only for a shop whose assistant is on or a conversation it wrote in.
  let aiScript = null;
  function loadAi() {
    if (aiScript || !ui || !((shopConfig && shopConfig.assistant) || chat.list.some((m) => m.assistant))) return;
    aiScript = document.createElement('script');
    aiScript.src = cfg.server + '/widget-ai.js';
    aiScript.onload = () => window.ZoraAI({ s: () => socket, chat, ui, t: () => t, c: () => shopConfig || {}, id: () => conversationId });
    document.head.append(aiScript);
  }

  function applyShopConfig() {
    loadAi();
    if (!ui || !shopConfig) return;
    if (!asked && shopConfig.language) ui.setTranslator((t = translator(shopConfig.language)));
    ui.setShopConfig(shopConfig);
    // Away: the reply can only follow by email, so ask for one (however the merchant set the form).
    const mode = shopConfig.away ? 'required' : shopConfig.prechat;
    if (!profileAsked && (mode === 'optional' || mode === 'required') && !store.get('profile') && !chat.list.length) {
      profileAsked = true;
      ui.askProfile(mode);
    }
  }

  function sendProfile() {
    const profile = store.getJSON('profile', null);
    if (!profile || profile.sent || !resumed || !socket || !socket.connected) return;
    const gen = generation;
    socket.timeout(ACK_TIMEOUT).emit('profile', { name: profile.name || null, email: profile.email || null, locale: t.lang }, (err, ack) => {
      if (gen !== generation) return;
      if (!err && ack && ack.ok === true) store.setJSON('profile', Object.assign(profile, { sent: true }));
      else if (!err && ack && ack.error && ack.error.code === 'invalid_payload') {
        store.setJSON('profile', Object.assign(profile, { sent: true, error: ack.error.message }));
        if (ui) ui.showFormError(t('badEmail'));
      } else setTimeout(sendProfile, backoff(1));
    });
  }

  function onConnect() {
    generation++;
    resumed = false;
    unauthorizedCount = 0;
    refusedCount = 0;
    resume(generation, 1);
  }

  function resume(gen, attempt) {
    if (gen !== generation || !socket.connected) return;
    socket.timeout(RESUME_TIMEOUT).emit('resume', { since_seq: chat.maxSeq() }, (err, ack) => {
      if (gen !== generation) return;
      if (err || !ack || ack.ok !== true) {
        setTimeout(() => resume(gen, attempt + 1), backoff(attempt));
        return;
      }
      if (ack.conversation_id && ack.conversation_id !== conversationId) {
        if (conversationId) {
          // The socket speaks for another conversation than our cache: start over from seq 0.
          chat.reset();
          conversationId = ack.conversation_id;
          resume(gen, 1);
          return;
        }
        conversationId = ack.conversation_id;
      }
      const messages = Array.isArray(ack.messages) ? ack.messages : [];
      const added = chat.ingest(messages, resumedOnce);
      if (Number.isInteger(ack.seen_upto)) unreadFrom = Math.max(unreadFrom, ack.seen_upto);
      if (!resumedOnce && ui) ui.setUnread(chat.countAgentAfter(Math.max(unreadFrom, receipts.seen)));
      if (messages.length >= RESUME_PAGE && added > 0) {
        resume(gen, 1); // there may be more
        return;
      }
      resumed = true;
      resumedOnce = true;
      setConnection('online');
      // A new connection: what the server acknowledged before may predate a server restart.
      reported.delivered = reported.seen = 0;
      sendProfile();
      flushOutbox();
      noteAgentMessages();
      signalReady();
    });
  }

  function signalReady() {
    if (isReady || !resumedOnce || !ui || fatal) return;
    isReady = true;
    const detail = { shop: cfg.shop, shopper_id: shopperId, conversation_id: conversationId };
    ui.setState('ready');
    resolveReady(detail);
    window.dispatchEvent(new CustomEvent('zora:ready', { detail }));
  }

  function onDisconnect(reason) {
    generation++;
    resumed = false;
    inflight.clear();
    for (const t of retryTimers.values()) clearTimeout(t);
    retryTimers.clear();
    if (fatal) return;
    setConnection('reconnecting');
    if (reason === 'io server disconnect') {
      // The server closed this socket on purpose; socket.io will not reconnect by itself.
      refusedCount++;
      setTimeout(connect, backoff(refusedCount));
    }
  }

  function onConnectError(err) {
    if (fatal) return;
    setConnection(resumedOnce ? 'reconnecting' : 'connecting');
    if (isUnauthorized(err)) {
      // Our token is not (or no longer) accepted: forget it, get a new identity, reconnect.
      unauthorizedCount++;
      setToken(null);
      const wait = unauthorizedCount > 1 ? backoff(unauthorizedCount - 1) : 0;
      sleep(wait)
        .then(() => session(false))
        .then(connect, fail);
      return;
    }
    if (!socket.active) {
      // Refused by the server for another reason: socket.io gives up, so we retry ourselves.
      refusedCount++;
      setTimeout(connect, backoff(refusedCount));
    }
    // Otherwise (server unreachable, transport error) socket.io reconnects with backoff.
  }

  // -- sending ------------------------------------------------------------------------------

  /** First in, first out: a message waits while its file, or an older one of this tab, uploads. */
  function blocked(m) {
    for (const o of chat.list) {
      if (uploads.has(o.client_id)) return true;
      if (o === m) return false;
    }
    return false;
  }

  function emitMessage(m, attempt) {
    if (!resumed || !socket || !socket.connected || inflight.has(m.client_id) || retryTimers.has(m.client_id) || blocked(m)) return;
    const gen = generation;
    inflight.add(m.client_id);
    // page (no query: it can hold tokens) and locale: where the shopper is, for the agents' card.
    const data = { client_id: m.client_id, body: m.body, page: location.origin + location.pathname, locale: t.lang };
    if (m.files.length) data.files = m.files.map((f) => f.id);
    socket.timeout(ACK_TIMEOUT).emit('message', data, (err, ack) => {
      if (gen !== generation) return; // disconnected meanwhile: the next connect re-sends it
      inflight.delete(m.client_id);
      if (!err && ack && ack.ok === true) {
        chat.markSent(m.client_id);
        return;
      }
      const code = !err && ack && ack.error && ack.error.code;
      if (code === 'invalid_payload') {
        chat.markFailed(m.client_id, ack.error.message);
        return;
      }
      // Lost ack (timeout), `unavailable` or `rate_limited` (then when the server says): the message
      // stays in the outbox; send it again.
      retry(m, attempt + 1, slowDown(code === 'rate_limited' && ack.error));
    });
  }

  /** Over a server limit: tell the shopper, and the wait in ms (0 when not limited). */
  function slowDown(error) {
    const n = error && error.retry_after;
    if (!(n > 0)) return 0;
    if (ui) ui.showFormError(t('slow', { n }));
    return n * 1000;
  }

  function retry(m, attempt, wait) {
    clearTimeout(retryTimers.get(m.client_id));
    retryTimers.set(
      m.client_id,
      setTimeout(() => {
        retryTimers.delete(m.client_id);
        if (chat.outbox.has(m.client_id)) emitMessage(m, attempt);
      }, wait || backoff(attempt)),
    );
  }

  /** Sends everything still in the outbox, oldest first (after each resume and each upload). */
  function flushOutbox() {
    for (const item of chat.outbox.all()) {
      const m = chat.byClientId(item.client_id);
      if (m && m.seq != null) {
        chat.outbox.remove(item.client_id); // stored already (we saw it come back)
        continue;
      }
      // Another tab's file still uploading: that tab sends it (ours wait in emitMessage).
      if (!uploads.has(item.client_id) && item.files && item.files.some((f) => !f.id)) continue;
      emitMessage(m || chat.addPending(item), 0);
    }
  }

  /** A new message (a client_id and the trimmed text), or null when it cannot be sent. */
  function newItem(text) {
    if (fatal) return null;
    const body = text.trim();
    if (Array.from(body).length <= MAX_BODY) return { client_id: newClientId(), body, created_at: new Date().toISOString() };
    if (ui) ui.showFormError(t('tooLong', { n: MAX_BODY }));
    return null;
  }

  function send(text) {
    const item = newItem(text);
    if (!item || !item.body) return null;
    chat.outbox.add(item);
    const m = chat.addPending(item, 'sending');
    emitMessage(m, 0); // no-op while offline: flushOutbox() sends it after the next resume
    return item.client_id;
  }

  /** A file from the composer: checked against the shop's limits, uploaded, then sent with the text. */
  function attach(file, text) {
    const { max_bytes: max, types } = fileLimits(shopConfig);
    const name = file.name;
    const error = !types.includes(file.type)
      ? t('fileType', { name, types: types.map((x) => x.split('/')[1].toUpperCase()).join(', ') })
      : file.size > max
        ? t('fileSize', { name, max: humanSize(max, t.lang) })
        : '';
    if (error) ui.showFormError(error);
    const item = !error && newItem(text);
    if (!item) return false;
    // Shown at once (with the file's name) and in the outbox, in its place: while it uploads,
    // nothing sent after it is emitted (blocked), so Slack gets the messages in the shopper's order.
    item.files = [{ name, type: file.type, size: file.size, state: 'sending' }];
    uploads.add(item.client_id);
    chat.outbox.add(item);
    upload(file, item, chat.addPending(item, 'sending'), 1);
    return true;
  }

  async function upload(file, item, m, attempt) {
    let res, data;
    try {
      await started; // the token

      res = await fetch(cfg.server + '/widget/files?name=' + encodeURIComponent(file.name), {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + token, 'Content-Type': file.type },
        body: file,
      });
      data = await res.json();
    } catch (_) {
      // offline, or an answer that is not JSON
    }
    m = chat.byClientId(item.client_id) || m; // a new copy after chat.reset()
    if (res && res.status === 201 && data && data.file) {
      // Uploaded: from now on an ordinary message, kept in the outbox and re-sent with the same
      // client_id until the server has it. It goes first, then what waited behind it.
      uploads.delete(item.client_id);
      item.files = m.files = [data.file];
      chat.outbox.add(item);
      ui.update(m);
      emitMessage(m, 0);
      flushOutbox();
    } else if (res && res.status === 429 && data && data.error && data.error.code === 'rate_limited') {
      setTimeout(() => upload(file, item, m, attempt + 1), slowDown(data.error) || backoff(attempt));
    } else if (res && res.status < 500) {
      // Refused (too large, wrong type, too many files…): nothing is sent; the text goes back,
      // and what waited behind it goes on.
      uploads.delete(item.client_id);
      chat.outbox.remove(item.client_id);
      chat.drop(m);
      ui.showFormError(t('fileFailed', { name: file.name, error: (data && data.error && data.error.message) || res.status }));
      ui.restore(item.body);
      flushOutbox();
    } else if (!fatal) {
      setTimeout(() => upload(file, item, m, attempt + 1), backoff(attempt));
    }
  }

  // -- start --------------------------------------------------------------------------------

  const started = session(true);
  started.then(connect, fail);

  domReady().then(() => {
    ui = createUI(cfg, t, {
      onSend: (text) => send(text) !== null,
      onFile: attach,
      onOpen: () => {},
      onSeen: noteSeen,
      onProfile: (p) => {
        store.setJSON('profile', { name: p.name, email: p.email, sent: false });
        sendProfile();
      },
    });
    chat.attach(ui);
    waiting.forEach((f) => f());
    for (const item of lost) {
      ui.showFormError(t('fileLost', { name: item.files[0].name }));
      ui.restore(item.body);
    }
    if (resumedOnce) ui.setUnread(chat.countAgentAfter(Math.max(unreadFrom, receipts.seen)));
    ui.setConnection(connKey);
    applyShopConfig();
    if (fatal) {
      ui.setState('error');
      ui.disable('unavailable');
    }
    if (wantOpen) ui.open();
    signalReady();
  });

  return api;
}
