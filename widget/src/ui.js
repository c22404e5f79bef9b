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

const STATUS_TEXT = {
  sending: 'Sending…',
  sent: 'Sent',
  stored: 'Sent',
  delivered: 'Delivered',
  undelivered: 'Not delivered yet',
};

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
 * @param {{color: string, greeting: string, position: string}} cfg
 * @param {{onSend: (text: string) => boolean, onOpen: () => void}} handlers
 */
export function createUI(cfg, handlers) {
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
      'aria-label': 'Chat with us',
      'aria-expanded': 'false',
      'aria-controls': 'zora-panel',
    },
    [icon(CHAT_ICON), badge],
  );

  const title = h('h2', { class: 'title', id: 'zora-title' }, ['Chat']);
  const conn = h('div', { class: 'conn' }, ['Connecting…']);
  const closeBtn = h('button', { type: 'button', class: 'close', 'aria-label': 'Close chat' }, [
    icon(CLOSE_ICON),
  ]);
  const head = h('div', { class: 'head' }, [h('div', null, [title, conn]), closeBtn]);

  const greeting = h('div', { class: 'msg agent greeting' }, [h('div', { class: 'bubble' })]);
  greeting.firstChild.textContent = cfg.greeting;
  const log = h(
    'div',
    {
      class: 'log',
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      'aria-label': 'Messages',
      tabindex: '0',
    },
    [greeting],
  );

  const input = h('textarea', {
    id: 'zora-input',
    class: 'input',
    name: 'message',
    rows: '1',
    maxlength: '4000',
    placeholder: 'Write a message…',
    autocomplete: 'off',
  });
  const formError = h('div', { class: 'ferr', role: 'alert' });
  const form = h('form', { class: 'form', novalidate: '' }, [
    h('label', { for: 'zora-input', class: 'sr' }, ['Message']),
    input,
    h('button', { type: 'submit', class: 'send' }, ['Send']),
  ]);
  const sendBtn = form.querySelector('.send');

  const panel = h(
    'div',
    { id: 'zora-panel', class: 'panel', role: 'dialog', 'aria-label': 'Chat', hidden: '' },
    [head, log, formError, form],
  );

  const root = h('div', { class: 'root' + (cfg.position === 'left' ? ' left' : '') }, [launcher, panel]);
  root.style.setProperty('--zora-accent', cfg.color);
  shadow.append(style, root);
  document.body.append(host);
  root.style.setProperty('--zora-on-accent', onAccent(launcher));

  let isOpen = false;
  let unread = 0;

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
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
    try {
      input.focus({ preventScroll: true });
    } catch (_) {
      input.focus();
    }
    handlers.onOpen();
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
  input.addEventListener('input', () => {
    autosize();
    formError.textContent = '';
  });

  /** Creates or refreshes the DOM node of one message. */
  function render(m) {
    let el = m.el;
    const mine = m.direction !== 'agent';
    if (!el) {
      const author = h('div', { class: 'author' });
      const bubble = h('div', { class: 'bubble' });
      const meta = h('div', { class: 'meta' });
      el = h('div', { class: 'msg ' + (mine ? 'me' : 'agent') }, mine ? [bubble, meta] : [author, bubble, meta]);
      m.el = el;
    }
    const [first] = el.children;
    if (!mine) first.textContent = (m.author && m.author.name) || 'Support';
    el.querySelector('.bubble').textContent = m.body;
    if (m.seq != null) el.setAttribute('data-seq', String(m.seq));
    if (m.client_id) el.setAttribute('data-client-id', m.client_id);
    el.setAttribute('data-status', m.status || '');
    el.classList.toggle('failed', m.status === 'failed');
    const time = formatTime(m.created_at);
    let status = '';
    if (mine) {
      status = m.status === 'failed' ? 'Not sent: ' + (m.error || 'invalid message') : STATUS_TEXT[m.status] || '';
    }
    el.querySelector('.meta').textContent = [time, status].filter(Boolean).join(' · ');
    return el;
  }

  return {
    host,
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
    setConnection(text) {
      conn.textContent = text;
    },
    setState(state) {
      host.setAttribute('data-state', state);
    },
    showFormError(text) {
      formError.textContent = text;
    },
    disable(text) {
      input.disabled = true;
      sendBtn.disabled = true;
      input.placeholder = text;
    },
  };
}
