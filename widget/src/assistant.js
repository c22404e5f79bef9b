// The assistant's part of the widget, built into static/widget-ai.js and loaded by widget.js only for
// shops whose assistant is on (docs/widget-protocol.md, "The assistant"):
// - `assistant_delta` events grow a bubble per turn, replaced by the turn's final `message` (whose
//   client_id is the turn id); a later step or a retried attempt starts the bubble over;
// - `assistant_typing` shows that the assistant is writing;
// - messages the assistant wrote are labelled "AI" in the shopper's language;
// - "Talk to a person" (socket event `ask_for_person`), offered up front when the shop wants it and
//   always once the assistant has answered.

import { AI_STRINGS } from './assistant-i18n.js';

const ACK_TIMEOUT = 5000;
// A typing indicator nobody ends (a turn that failed) goes away by itself.
const TYPING_MAX = 30000;
const CSS =
  '.ai{margin-left:6px;padding:0 5px;border-radius:6px;background:#e7ecf3;color:#3d4a5c;font-size:10px;font-weight:700}' +
  '.typing .bubble{color:#57606a;font-style:italic}' +
  '.person{align-self:center;margin:6px 12px 0;height:34px}.person:disabled{cursor:default;opacity:.7}';

window.ZoraAI = function (ctx) {
  const { chat, ui } = ctx;
  const { h, log } = ui;
  const s = (key) => (AI_STRINGS[ctx.t().lang] || AI_STRINGS.en)[key];
  const turns = new Map(); // turn id -> {el, bubble, step, attempt, text}
  const done = new Set(); // turns whose final message arrived: late deltas are ignored
  const style = h('style');
  style.textContent = CSS;
  ui.panel.append(style);

  /** A message-like element at the end of the log: author line (with the AI label) and bubble. */
  function agentBox(cls) {
    const author = h('div', { class: 'author' });
    const bubble = h('div', { class: 'bubble' });
    const el = h('div', { class: 'msg agent ' + cls }, [author, bubble, h('div', { class: 'meta' })]);
    author.textContent = (ctx.c().assistant || {}).name || '';
    author.append(label());
    return { el, bubble };
  }

  function label() {
    return h('span', { class: 'ai' }, [s('ai')]);
  }

  function place(el) {
    const stick = ui.near();
    log.insertBefore(el, typing.el.parentNode === log ? typing.el : null);
    if (stick) ui.end();
  }

  // -- typing --------------------------------------------------------------------------------

  const typing = agentBox('typing');
  let typingTimer = 0;
  function setTyping(on) {
    clearTimeout(typingTimer);
    if (!on) return typing.el.remove();
    typing.bubble.textContent = s('typing');
    if (typing.el.parentNode !== log) {
      const stick = ui.near();
      log.append(typing.el);
      if (stick) ui.end();
    }
    typingTimer = setTimeout(() => setTyping(false), TYPING_MAX);
  }

  // -- streamed answers ----------------------------------------------------------------------

  function onDelta(ev) {
    if (!ours(ev) || typeof ev.turn !== 'string' || typeof ev.text !== 'string' || done.has(ev.turn)) return;
    let turn = turns.get(ev.turn);
    if (!turn) {
      turn = Object.assign(agentBox('streaming'), { step: 0, attempt: 0, text: '' });
      turn.el.setAttribute('data-turn', ev.turn);
      // Screen readers would read the bubble again at each piece: they get the stored message instead.
      turn.el.setAttribute('aria-hidden', 'true');
      turns.set(ev.turn, turn);
    }
    const newer = ev.step > turn.step || (ev.step === turn.step && ev.attempt > turn.attempt);
    if (newer) {
      // A later step, or a retry: what was shown of the earlier one is not the answer.
      if (ev.offset !== 0) return;
      Object.assign(turn, { step: ev.step, attempt: ev.attempt, text: '' });
    } else if (ev.step !== turn.step || ev.attempt !== turn.attempt || ev.offset !== turn.text.length) {
      return; // an older attempt's, or a repeat
    }
    turn.text += ev.text;
    turn.bubble.textContent = turn.text;
    if (turn.el.parentNode !== log) place(turn.el);
    else if (ui.near()) ui.end();
    showPerson();
  }

  function onMessage(m) {
    if (!ours(m) || !m.client_id) return;
    const turn = turns.get(m.client_id);
    if (m.assistant) {
      done.add(m.client_id);
      setTyping(false);
      showPerson();
    }
    if (turn) {
      turn.el.remove();
      turns.delete(m.client_id);
    }
  }

  function ours(ev) {
    const id = ctx.id();
    return ev && typeof ev === 'object' && !(ev.conversation_id && id && ev.conversation_id !== id);
  }

  // -- talk to a person ----------------------------------------------------------------------

  const person = h('button', { type: 'button', class: 'skip person', hidden: '' });
  ui.panel.insertBefore(person, ui.formError);
  let asked = false;
  function showPerson() {
    person.hidden = false;
  }
  person.onclick = () => {
    const socket = ctx.s();
    if (asked || !socket || !socket.connected) return;
    person.disabled = true;
    socket.timeout(ACK_TIMEOUT).emit('ask_for_person', {}, (err, ack) => {
      asked = !err && ack && ack.ok === true;
      person.disabled = asked;
      texts();
    });
  };

  function texts() {
    person.textContent = s(asked ? 'asked' : 'person');
    typing.bubble.textContent = s('typing');
    for (const el of log.querySelectorAll('.ai')) el.textContent = s('ai');
  }

  // -- wiring --------------------------------------------------------------------------------

  ui.hooks.r = (m, el) => {
    if (m.assistant && !el.querySelector('.ai')) el.firstChild.append(label());
  };
  ui.hooks.a = texts;
  for (const m of chat.list) if (m.el) ui.update(m);
  if ((ctx.c().assistant || {}).offer_person_first || chat.list.some((m) => m.assistant)) showPerson();
  texts();

  (function attach() {
    const socket = ctx.s();
    if (!socket) return setTimeout(attach, 200);
    socket.on('assistant_delta', onDelta);
    socket.on('assistant_typing', (ev) => ours(ev) && !done.has(ev.turn) && setTyping(ev.typing === true));
    socket.on('message', onMessage);
  })();
};
