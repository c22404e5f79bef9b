// localStorage with a per-shop key prefix (`zora:<shop>:<name>`) that never throws: storage can be
// disabled, full, or blocked (private mode, third-party contexts). Falls back to memory per key.

let local = null;
try {
  local = window.localStorage;
  const probe = 'zora:__probe';
  local.setItem(probe, '1');
  local.removeItem(probe);
} catch (_) {
  local = null;
}

const memory = new Map();

export function makeStore(shop) {
  const key = (name) => `zora:${shop}:${name}`;

  function get(name) {
    const k = key(name);
    if (memory.has(k)) return memory.get(k);
    try {
      return local ? local.getItem(k) : null;
    } catch (_) {
      return null;
    }
  }

  function set(name, value) {
    const k = key(name);
    try {
      if (local) {
        if (value == null) local.removeItem(k);
        else local.setItem(k, value);
        memory.delete(k);
        return;
      }
    } catch (_) {
      // quota exceeded or storage blocked: keep it for this page at least
    }
    if (value == null) memory.delete(k);
    else memory.set(k, value);
  }

  return {
    get,
    set,
    getJSON(name, fallback) {
      try {
        const raw = get(name);
        return raw == null ? fallback : JSON.parse(raw);
      } catch (_) {
        return fallback;
      }
    },
    setJSON(name, value) {
      set(name, JSON.stringify(value));
    },
  };
}
