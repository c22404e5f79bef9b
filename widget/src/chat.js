// The conversation model: an ordered list of messages (server messages by seq, then the shopper's
// not-yet-stored optimistic messages in the order they were written), de-duplicated on seq and on
// client_id, persisted to localStorage (`messages`, `seq`, `outbox`).

const CACHE_LIMIT = 200;

// Shopper message statuses only move forward: sending → sent/stored → undelivered → delivered → seen
// (an agent replied after it).
const RANK = { sending: 0, sent: 1, stored: 1, undelivered: 2, delivered: 3, seen: 4 };

export function laterStatus(current, next) {
  if (current === 'failed' || !(next in RANK)) return current;
  return current in RANK && RANK[current] >= RANK[next] ? current : next;
}

function isServerMessage(m) {
  return (
    m &&
    typeof m === 'object' &&
    Number.isInteger(m.seq) &&
    m.seq > 0 &&
    typeof m.body === 'string' &&
    (m.direction === 'shopper' || m.direction === 'agent')
  );
}

function pick(m) {
  return {
    conversation_id: m.conversation_id || null,
    seq: m.seq,
    client_id: m.client_id || null,
    direction: m.direction,
    author: m.author && typeof m.author === 'object' ? { name: m.author.name || null, avatar_url: m.author.avatar_url || null } : null,
    body: m.body,
    created_at: m.created_at || null,
    status: m.status || null,
    edited_at: m.edited_at || null,
    deleted: m.deleted === true,
    files: Array.isArray(m.files) ? m.files : [],
    assistant: m.assistant === true,
  };
}

/**
 * @param store  the per-shop store (storage.js)
 * @param view   {place(m, next), update(m), remove(m), addUnread()} — may be attached later
 */
export function createChat(store) {
  /** @type {Array<any>} */
  const list = [];
  const bySeq = new Map();
  const byClientId = new Map();
  let view = null;

  // -- outbox (read-modify-write on every change so several tabs do not clobber each other) -----

  const outbox = {
    all() {
      const items = store.getJSON('outbox', []);
      return Array.isArray(items)
        ? items.filter((i) => i && typeof i.client_id === 'string' && typeof i.body === 'string')
        : [];
    },
    /** Adds a message at the end, or updates it in its place (the order is the shopper's). */
    add(m) {
      const items = outbox.all();
      const i = items.findIndex((o) => o.client_id === m.client_id);
      items.splice(i < 0 ? items.length : i, i < 0 ? 0 : 1, { client_id: m.client_id, body: m.body, created_at: m.created_at, files: m.files });
      store.setJSON('outbox', items);
    },
    has(clientId) {
      return outbox.all().some((i) => i.client_id === clientId);
    },
    remove(clientId) {
      const items = outbox.all();
      const rest = items.filter((i) => i.client_id !== clientId);
      if (rest.length !== items.length) store.setJSON('outbox', rest);
    },
  };

  // -- ordering ----------------------------------------------------------------------------------

  function position(m) {
    const i = list.indexOf(m);
    if (i !== -1) list.splice(i, 1);
    let at = list.length;
    if (m.seq != null) {
      at = list.findIndex((o) => o.seq == null || o.seq > m.seq);
      if (at === -1) at = list.length;
    }
    list.splice(at, 0, m);
    if (view) view.place(m, list[at + 1] || null);
  }

  function index(m) {
    if (m.seq != null) bySeq.set(m.seq, m);
    if (m.client_id) byClientId.set(m.client_id, m);
  }

  function maxSeq() {
    for (let i = list.length - 1; i >= 0; i--) if (list[i].seq != null) return list[i].seq;
    return 0;
  }

  function persist() {
    const saved = [];
    for (const m of list) if (m.seq != null) saved.push(pick(m));
    store.setJSON('messages', saved.slice(-CACHE_LIMIT));
    store.set('seq', String(maxSeq()));
  }

  /** Adds a pending (not yet stored) shopper message to the list. */
  function addPending(item, status) {
    if (byClientId.has(item.client_id)) return byClientId.get(item.client_id);
    const m = {
      conversation_id: null,
      seq: null,
      client_id: item.client_id,
      direction: 'shopper',
      author: null,
      body: item.body,
      files: Array.isArray(item.files) ? item.files : [],
      created_at: item.created_at || new Date().toISOString(),
      status: status || 'sending',
      error: null,
      el: null,
    };
    index(m);
    position(m);
    return m;
  }

  /**
   * Merges server messages (from a resume ack or `message` events). Returns how many were new.
   * @param {Array<any>} messages
   * @param {boolean} countUnread
   */
  function ingest(messages, countUnread) {
    let added = 0;
    for (const raw of messages) {
      if (!isServerMessage(raw)) continue;
      const data = pick(raw);
      let m = bySeq.get(data.seq);
      if (!m && data.client_id && data.direction === 'shopper') {
        const mine = byClientId.get(data.client_id);
        if (mine && (mine.seq == null || mine.seq === data.seq)) m = mine;
      }
      if (m) {
        const status = laterStatus(m.status, data.status);
        const moved = m.seq !== data.seq;
        Object.assign(m, data, { status, error: status === 'failed' ? m.error : null });
        index(m);
        if (moved) position(m);
        else if (view) view.update(m);
      } else {
        m = Object.assign(data, { error: null, el: null });
        index(m);
        position(m);
        added++;
        if (countUnread && m.direction === 'agent' && view) view.addUnread();
      }
      // The server has stored it: it no longer needs to be (re)sent.
      if (m.client_id && m.direction === 'shopper') outbox.remove(m.client_id);
    }
    deriveSeen();
    persist();
    return added;
  }

  function maxAgentSeq() {
    for (let i = list.length - 1; i >= 0; i--) if (list[i].direction === 'agent' && list[i].seq != null) return list[i].seq;
    return 0;
  }

  /** A shopper message is seen once an agent replied after it. */
  function deriveSeen() {
    const last = maxAgentSeq();
    for (const m of list) {
      if (m.direction !== 'shopper' || m.seq == null || m.seq > last || m.status === 'seen') continue;
      m.status = 'seen';
      if (view) view.update(m);
    }
  }

  /** Applies `message_updated` (an agent edited a reply) or `message_deleted`. */
  function applyChange(ev, deleted) {
    const m = ev && Number.isInteger(ev.seq) ? bySeq.get(ev.seq) : undefined;
    if (!m || m.direction !== 'agent') return;
    if (deleted) {
      m.deleted = true;
      m.body = '';
    } else if (typeof ev.body === 'string' && !m.deleted) {
      m.body = ev.body;
      m.edited_at = ev.edited_at || new Date().toISOString();
    }
    if (view) view.update(m);
    persist();
  }

  /** Applies `message_files`: the files of a message changed state (an agent's file was copied). */
  function applyFiles(ev) {
    const m = ev && Number.isInteger(ev.seq) ? bySeq.get(ev.seq) : undefined;
    if (!m || !Array.isArray(ev.files)) return;
    m.files = ev.files;
    if (view) view.update(m);
    persist();
  }

  /** Takes a pending message off the list (its file could not be uploaded: nothing was sent). */
  function drop(m) {
    const i = list.indexOf(m);
    if (i !== -1) list.splice(i, 1);
    byClientId.delete(m.client_id);
    if (view) view.remove(m);
  }

  /** Applies a `status` event. */
  function applyStatus(ev) {
    if (!ev || typeof ev !== 'object') return;
    let m = Number.isInteger(ev.seq) ? bySeq.get(ev.seq) : undefined;
    if (!m && typeof ev.client_id === 'string') m = byClientId.get(ev.client_id);
    if (!m || m.direction === 'agent') return;
    m.status = laterStatus(m.status, ev.status);
    if (m.seq == null && Number.isInteger(ev.seq) && !bySeq.has(ev.seq)) {
      m.seq = ev.seq;
      if (ev.conversation_id) m.conversation_id = ev.conversation_id;
      index(m);
      position(m);
      if (m.client_id) outbox.remove(m.client_id);
    } else if (view) {
      view.update(m);
    }
    persist();
  }

  /** Marks a shopper message as acknowledged (`ok: true`). */
  function markSent(clientId) {
    outbox.remove(clientId);
    const m = byClientId.get(clientId);
    if (m) {
      m.status = laterStatus(m.status, 'sent');
      if (view) view.update(m);
    }
  }

  /** Marks a shopper message as refused for good (`invalid_payload`). */
  function markFailed(clientId, message) {
    outbox.remove(clientId);
    const m = byClientId.get(clientId);
    if (m && m.seq == null) {
      m.status = 'failed';
      m.error = message || 'invalid message';
      if (view) view.update(m);
    }
  }

  /** Forgets every message (the server gave us another conversation). Pending ones stay. */
  function reset() {
    for (const m of list) if (view) view.remove(m);
    list.length = 0;
    bySeq.clear();
    byClientId.clear();
    for (const item of outbox.all()) addPending(item);
    persist();
  }

  /**
   * Loads the cache and the outbox (call once, before any server data). Returns the outbox items
   * whose file was still uploading: the file is gone with the page, so they are dropped.
   */
  function load() {
    const lost = [];
    const cached = store.getJSON('messages', []);
    if (Array.isArray(cached)) {
      for (const raw of cached) {
        if (!isServerMessage(raw) || bySeq.has(raw.seq)) continue;
        const m = Object.assign(pick(raw), { error: null, el: null });
        index(m);
        position(m);
      }
    }
    for (const item of outbox.all()) {
      const m = byClientId.get(item.client_id);
      if (m && m.seq != null) outbox.remove(item.client_id); // stored already
      else if (item.files && item.files.some((f) => !f.id)) {
        outbox.remove(item.client_id);
        lost.push(item);
      } else addPending(item);
    }
    return lost;
  }

  return {
    list,
    outbox,
    maxSeq,
    load,
    ingest,
    applyStatus,
    applyChange,
    applyFiles,
    drop,
    maxAgentSeq,
    /** How many (not deleted) agent messages come after `seq`. */
    countAgentAfter(seq) {
      return list.filter((m) => m.direction === 'agent' && !m.deleted && m.seq > seq).length;
    },
    addPending,
    markSent,
    markFailed,
    reset,
    /** The conversation id of the cached messages, if any. */
    conversationId() {
      for (const m of list) if (m.conversation_id) return m.conversation_id;
      return null;
    },
    byClientId: (id) => byClientId.get(id),
    attach(v) {
      view = v;
      for (let i = 0; i < list.length; i++) view.place(list[i], null);
    },
  };
}
