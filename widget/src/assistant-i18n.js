// The words of the assistant's part of the widget (assistant.js), in every language the widget speaks
// (i18n.js). Kept apart so widget.js does not carry them for shops without the assistant.

export const AI_STRINGS = {
  en: {
    ai: 'AI',
    typing: 'Writing an answer…',
    person: 'Talk to a person',
    asked: 'A person will join the chat soon.',
  },
  'zh-CN': {
    ai: 'AI',
    typing: '正在撰写回复…',
    person: '转人工客服',
    asked: '人工客服将很快加入对话。',
  },
  es: {
    ai: 'IA',
    typing: 'Escribiendo una respuesta…',
    person: 'Hablar con una persona',
    asked: 'Una persona se unirá pronto al chat.',
  },
  fr: {
    ai: 'IA',
    typing: 'Rédaction de la réponse…',
    person: 'Parler à une personne',
    asked: 'Une personne va bientôt rejoindre la conversation.',
  },
  de: {
    ai: 'KI',
    typing: 'Antwort wird geschrieben…',
    person: 'Mit einem Menschen sprechen',
    asked: 'Gleich meldet sich ein Mensch im Chat.',
  },
  ja: {
    ai: 'AI',
    typing: '回答を作成中…',
    person: 'スタッフと話す',
    asked: 'まもなくスタッフが対応します。',
  },
};
