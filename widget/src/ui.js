// The widget's DOM: a host element on <body> with an open shadow root holding the launcher button
// and the chat panel. Message data only ever reaches the DOM through textContent / setAttribute.

import { CSS_TEXT } from './styles.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function h(tag, attrs, children) {
  const el = document.createElement(tag);
  if (attrs) for (const k in attrs) el.setAttribute(k, attrs[k]);
  if (children) for (const c of children) el.append(c);
  return el;
}

function icon(d, cls) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  if (cls) svg.setAttribute('class', cls);
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

const CHAT_ICON = 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z';
const CLOSE_ICON = 'M6 6l12 12M18 6L6 18';
const CLIP_ICON = 'M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7L9.7 17a1.7 1.7 0 0 1-2.4-2.4L15 7';

// What the widget may upload when the session answer does not say (docs/widget-protocol.md, 2a).
const FILES = { max_bytes: 10485760, types: ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf'] };

/** The shop's file limits (`widget.files` of the session answer), or the defaults. */
export function fileLimits(c) {
  const f = c && c.files;
  return f && f.max_bytes > 0 && Array.isArray(f.types) ? f : FILES;
}

/** A file size as people read it, in their language: "0.1 kB", "47 kB", "1.5 MB", "47 ko". */
export function humanSize(n, lang) {
  const [v, unit] = n >= 1048576 ? [n / 1048576, 'megabyte'] : [Math.max(n / 1024, 0.1), 'kilobyte'];
  return new Intl.NumberFormat(lang, { style: 'unit', unit, maximumFractionDigits: v < 10 ? 1 : 0 }).format(v);
}

// Server statuses as a shopper reads them (keys of i18n.js).
const STATUS_KEY = { sending: 'sending', sent: 'sent', stored: 'sent', delivered: 'delivered', undelivered: 'undelivered', seen: 'seen' };
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Picks black or white text for the accent colour (WCAG relative luminance). */
function onAccent(probe) {
  const m = /rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/.exec(getComputedStyle(probe).backgroundColor || '');
  if (!m) return '#fff';
  const lin = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  const l = 0.2126 * lin(+m[1]) + 0.7152 * lin(+m[2]) + 0.0722 * lin(+m[3]);
  // contrast with white (1.05 / (l + 0.05)) vs with near-black (l + 0.05) / 0.05
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.06 ? '#fff' : '#111';
}

function formatTime(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d.getTime())) return '';
  try {
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  } catch (_) {
    return '';
  }
}

/**
 * @param {{color: string, greeting: string, launcherText: string, position: string}} cfg
 * @param {(key: string, vars?: object) => string} t  the translator (i18n.js)
 * @param {{onSend: (text: string) => boolean, onOpen: () => void, onSeen: () => void, onProfile: (p: {name: string, email: string}) => void}} handlers
 */
export function createUI(cfg, t, handlers) {
  const host = document.createElement('zora-widget');
  host.setAttribute('data-state', 'loading');
  const shadow = host.attachShadow({ mode: 'open' });

  const style = document.createElement('style');
  style.textContent = CSS_TEXT;

  const badge = h('span', { class: 'badge', 'aria-hidden': 'true', hidden: '' });
  const launcher = h(
    'button',
    {
      type: 'button',
      class: 'launcher',
      'aria-expanded': 'false',
      'aria-controls': 'zora-panel',
    },
    [icon(CHAT_ICON), badge],
  );

  const title = h('h2', { class: 'title', id: 'zora-title' });
  const conn = h('div', { class: 'conn', role: 'status' });
  // Outside business hours, or when the shop says nobody is here: said plainly above the messages.
  const awayNote = h('p', { class: 'away', role: 'note', hidden: '' });
  const closeBtn = h('button', { type: 'button', class: 'close' }, [icon(CLOSE_ICON)]);
  // The shop's logo (look.logo_url, https only, checked by the server); hidden when it does not load.
  const logo = h('img', { class: 'logo', alt: '', hidden: '' });
  logo.onerror = () => (logo.hidden = true);
  const head = h('div', { class: 'head' }, [logo, h('div', null, [title, conn]), closeBtn]);

  const greeting = h('div', { class: 'msg agent greeting' }, [h('div', { class: 'bubble' })]);
  const log = h(
    'div',
    {
      class: 'log',
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions text',
      tabindex: '0',
    },
    [greeting],
  );

  // The pre-chat form (merchant setting): optional name and email, so replies can follow by email.
  const pcName = h('input', { id: 'zora-name', class: 'input', name: 'name', autocomplete: 'name', maxlength: '100' });
  const pcEmail = h('input', {
    id: 'zora-email',
    class: 'input',
    name: 'email',
    type: 'email',
    autocomplete: 'email',
    maxlength: '254',
  });
  const pcIntro = h('p', { class: 'pcintro' });
  const pcError = h('div', { class: 'ferr', role: 'alert' });
  const pcStart = h('button', { type: 'submit', class: 'send' });
  const pcSkip = h('button', { type: 'button', class: 'skip' });
  const pcNameLabel = h('label', { for: 'zora-name' });
  const pcEmailLabel = h('label', { for: 'zora-email' });
  const prechat = h('form', { class: 'prechat', novalidate: '', hidden: '' }, [
    pcIntro,
    pcNameLabel,
    pcName,
    pcEmailLabel,
    pcEmail,
    pcError,
    h('div', { class: 'pcbtns' }, [pcSkip, pcStart]),
  ]);

  const input = h('textarea', {
    id: 'zora-input',
    class: 'input',
    name: 'message',
    rows: '1',
    maxlength: '4000',
    autocomplete: 'off',
  });
  const formError = h('div', { class: 'ferr', role: 'alert' });
  const inputLabel = h('label', { for: 'zora-input', class: 'sr' });
  const sendBtn = h('button', { type: 'submit', class: 'send' });
  const fileInput = h('input', { type: 'file', hidden: '', tabindex: '-1', accept: FILES.types.join(',') });
  const attachBtn = h('button', { type: 'button', class: 'attach' }, [icon(CLIP_ICON)]);
  const form = h('form', { class: 'form', novalidate: '' }, [attachBtn, fileInput, inputLabel, input, sendBtn]);

  const panel = h(
    'div',
    { id: 'zora-panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'zora-title', hidden: '' },
    [head, awayNote, log, prechat, formError, form],
  );

  const root = h('div', { class: 'root' + (cfg.position === 'left' ? ' left' : '') }, [launcher, panel]);
  root.style.setProperty('--zora-accent', cfg.color);
  shadow.append(style, root);
  document.body.append(host);
  root.style.setProperty('--zora-on-accent', onAccent(launcher));

  let isOpen = false;
  let unread = 0;
  let connKey = 'connecting';
  let disabledKey = null;
  let prechatMode = 'off'; // off | optional | required
  let greetings = {}; // the merchant's greeting per language
  // Filled in by the assistant's part (assistant.js, loaded only when the shop's assistant is on):
  // r(m, el) after a message is rendered, a() after the texts changed language.
  const hooks = {};

  let aways = {}; // and away notice
  let look = {}; // the look set on the settings page (wins over the script's data-* attributes)

  /** The shop's look and words from its settings (the session answer, or the settings page's preview). */
  function applyLook(c) {
    aways = c.aways || {};
    look = c.look || {};
    if (look.color) root.style.setProperty('--zora-accent', look.color);
    root.style.setProperty('--zora-on-accent', onAccent(launcher));
    root.classList.toggle('left', (look.position || cfg.position) === 'left');
    logo.hidden = !look.logo_url;
    if (look.logo_url) logo.src = look.logo_url;
  }

  /** Puts every fixed text in the current language (again, after setLocale). */
  function applyTexts() {
    launcher.setAttribute('aria-label', look.launcher_text || cfg.launcherText || t('launcher'));
    title.textContent = t('title');
    closeBtn.setAttribute('aria-label', t('close'));
    log.setAttribute('aria-label', t('messages'));
    inputLabel.textContent = t('message');
    input.placeholder = disabledKey ? t(disabledKey) : t('placeholder');
    sendBtn.textContent = t('send');
    attachBtn.setAttribute('aria-label', t('attach'));
    conn.textContent = t(connKey);
    const lang = t.lang;
    greeting.firstChild.textContent =
      greetings[lang] || greetings[lang.split('-')[0]] || cfg.greeting || greetings.default || t('greeting');
    pcIntro.textContent = t('prechat');
    awayNote.textContent = aways[lang] || aways.default || t('away');
    pcNameLabel.textContent = t('name');
    pcEmailLabel.textContent = t('email');
    pcEmail.setAttribute('aria-required', String(prechatMode === 'required'));
    pcStart.textContent = t('start');
    pcSkip.textContent = t('skip');
    pcSkip.hidden = prechatMode === 'required';
    for (const el of log.children) if (el.zoraMessage) render(el.zoraMessage);
    if (hooks.a) hooks.a();
  }

  function nearBottom(extra) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80 + (extra || 0);
  }
  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }
  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 140) + 'px';
  }
  function setUnread(n) {
    unread = n;
    badge.textContent = n > 9 ? '9+' : String(n);
    badge.hidden = n === 0;
  }

  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    setUnread(0);
    scrollToEnd();
    const target = prechat.hidden ? input : pcName;
    try {
      target.focus({ preventScroll: true });
    } catch (_) {
      target.focus();
    }
    handlers.onOpen();
    handlers.onSeen();
  }
  function close() {
    if (!isOpen) return;
    const hadFocus = panel.contains(shadow.activeElement);
    isOpen = false;
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    if (hadFocus) launcher.focus();
  }

  function submit() {
    if (input.disabled) return;
    const text = input.value;
    if (!text.trim()) return;
    if (handlers.onSend(text)) {
      input.value = '';
      autosize();
      scrollToEnd();
    }
  }

  launcher.addEventListener('click', () => (isOpen ? close() : open()));
  closeBtn.addEventListener('click', close);
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && isOpen) {
      e.stopPropagation();
      close();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (e) => {
    // Enter sends, Shift+Enter inserts a newline; never send while an IME is composing.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  attachBtn.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    const file = fileInput.files[0];
    fileInput.value = ''; // the same file can be picked again
    formError.textContent = '';
    if (file && !input.disabled && handlers.onFile(file, input.value)) {
      input.value = '';
      autosize();
      scrollToEnd();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    formError.textContent = '';
  });
  log.addEventListener('scroll', () => handlers.onSeen(), { passive: true });
  document.addEventListener('visibilitychange', () => handlers.onSeen());

  function finishPrechat(profile) {
    prechat.hidden = true;
    form.hidden = false;
    if (profile) handlers.onProfile(profile);
    if (isOpen) input.focus();
  }
  prechat.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = pcName.value.trim();
    const email = pcEmail.value.trim();
    if (!email && prechatMode === 'required') {
      pcError.textContent = t('needEmail');
      pcEmail.setAttribute('aria-invalid', 'true');
      pcEmail.focus();
      return;
    }
    if (email && !EMAIL.test(email)) {
      pcError.textContent = t('badEmail');
      pcEmail.setAttribute('aria-invalid', 'true');
      pcEmail.focus();
      return;
    }
    pcEmail.removeAttribute('aria-invalid');
    pcError.textContent = '';
    finishPrechat(name || email ? { name, email } : null);
  });
  pcSkip.addEventListener('click', () => finishPrechat(null));

  /** One attachment: an image inline, anything else a link with its size; a name while not ready. */
  function fileNode(f) {
    const name = String(f.name);
    const state = f.state === 'pending' ? t('fileLoading') : f.state === 'failed' ? t('fileGone') : '';
    const label = name + ' · ' + (state || humanSize(f.size, t.lang));
    // URLs are relative to the Zora server (and nothing else is accepted).
    if (state || !/^\/[^/]/.test(f.url)) return h('span', { class: 'file' }, [label]);
    const href = cfg.server + f.url;
    const a = h('a', { class: 'file', href, target: '_blank', rel: 'noopener' }, [label]);
    if (/^image\//.test(f.type)) {
      const img = h('img', { alt: name, src: href });
      // Keep the newest message in view when the image (of unknown height) arrives.
      img.onload = () => nearBottom(img.offsetHeight) && scrollToEnd();
      a.replaceChildren(img);
    }
    return a;
  }

  /** Creates or refreshes the DOM node of one message. */
  function render(m) {
    let el = m.el;
    const mine = m.direction !== 'agent';
    if (!el) {
      const author = h('div', { class: 'author' });
      const bubble = h('div', { class: 'bubble' });
      const files = h('div', { class: 'files' });
      const meta = h('div', { class: 'meta' });
      el = h('div', { class: 'msg ' + (mine ? 'me' : 'agent') }, mine ? [bubble, files, meta] : [author, bubble, files, meta]);
      m.el = el;
    }
    el.zoraMessage = m;
    const [first] = el.children;
    if (!mine) first.textContent = (m.author && m.author.name) || t('support');
    const bubble = el.querySelector('.bubble');
    bubble.textContent = m.body;
    bubble.hidden = !m.body; // a message of files only has no text
    // Rebuilt only when the files (or the language) changed, so images do not load again.
    const key = t.lang + JSON.stringify(m.files);
    if (el.zoraFiles !== key) {
      el.zoraFiles = key;
      el.querySelector('.files').replaceChildren(...m.files.map(fileNode));
    }
    // An agent deleted it in Slack: its seq stays known (no gaps), the text goes.
    el.hidden = !!m.deleted;
    if (m.seq != null) el.setAttribute('data-seq', String(m.seq));
    if (m.client_id) el.setAttribute('data-client-id', m.client_id);
    el.setAttribute('data-status', m.status || '');
    el.classList.toggle('failed', m.status === 'failed');
    const parts = [formatTime(m.created_at)];
    if (m.edited_at) parts.push(t('edited'));
    if (mine) parts.push(m.status === 'failed' ? t('notSent') + ': ' + (m.error || '') : t(STATUS_KEY[m.status] || 'sending'));
    el.querySelector('.meta').textContent = parts.filter(Boolean).join(' · ');
    if (hooks.r) hooks.r(m, el);
    return el;
  }

  /** The highest agent seq the shopper can see right now (0 when the panel is hidden). */
  function visibleAgentSeq() {
    if (!isOpen || document.visibilityState === 'hidden') return 0;
    const box = log.getBoundingClientRect();
    let best = 0;
    for (const el of log.children) {
      const m = el.zoraMessage;
      if (!m || m.direction !== 'agent' || m.seq == null || m.seq <= best) continue;
      const r = el.getBoundingClientRect();
      if (r.height > 0 && r.top < box.bottom && r.bottom > box.top) best = m.seq;
    }
    return best;
  }

  applyTexts();

  return {
    host,
    // For assistant.js.
    hooks,
    log,
    panel,
    formError,
    h,
    near: nearBottom,
    end: scrollToEnd,
    get isOpen() {
      return isOpen;
    },
    open,
    close,
    /** Renders `m` and places it right before `next` (a message, or null for the end). */
    place(m, next) {
      const stick = nearBottom();
      const el = render(m);
      const before = next ? next.el : null;
      if (el.parentNode !== log || el.nextSibling !== before) log.insertBefore(el, before);
      if (stick || (m.direction !== 'agent' && m.seq == null)) scrollToEnd();
    },
    update(m) {
      if (m.el) render(m);
    },
    remove(m) {
      if (m.el) m.el.remove();
      m.el = null;
    },
    addUnread() {
      if (!isOpen) setUnread(unread + 1);
    },
    clearUnread() {
      setUnread(0);
    },
    setUnread(n) {
      if (!isOpen) setUnread(n);
    },
    visibleAgentSeq,
    /** Shows a connection state (a key of i18n.js). */
    setConnection(key) {
      connKey = key;
      conn.textContent = t(key);
    },
    /** Switches the language of every text. */
    setTranslator(next) {
      t = next;
      applyTexts();
    },
    /** The shop's widget settings from /widget/session. */
    setShopConfig(c) {
      greetings = (c && c.greetings) || {};
      applyLook(c);
      fileInput.accept = fileLimits(c).types.join(',');
      awayNote.hidden = !(c && c.away);
      applyTexts();
    },
    /** Shows the pre-chat form ('optional' or 'required') until it is filled in or skipped. */
    askProfile(mode) {
      prechatMode = mode;
      prechat.hidden = false;
      form.hidden = true;
      applyTexts();
    },
    setState(state) {
      host.setAttribute('data-state', state);
    },
    showFormError(text) {
      formError.textContent = text;
    },
    /** An emailed link opens another conversation: asks first (never drops the current one silently). */
    askSwitch(yes) {
      const ok = h('button', { type: 'button', class: 'send' }, [t('swap')]);
      const no = h('button', { type: 'button', class: 'skip' }, [t('skip')]);
      const box = h('div', { class: 'prechat pcbtns', role: 'group' }, [no, ok]);
      no.onclick = () => box.remove();
      ok.onclick = () => {
        box.remove();
        yes();
      };
      panel.insertBefore(box, formError);
      open();
      ok.focus();
    },
    /** Puts text back in an empty composer (a file with it could not be sent). */
    restore(text) {
      if (!input.value) input.value = text;
      autosize();
    },
    disable(key) {
      disabledKey = key;
      input.disabled = attachBtn.disabled = sendBtn.disabled = true;
      input.placeholder = t(key);
    },
  };
}
