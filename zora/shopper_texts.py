# ruff: noqa: RUF001  (full-width punctuation is how Chinese and Japanese are written)
"""Every text a shopper receives outside the widget (the closing message, the missed-reply, transcript and
address-confirmation emails), in the shopper's language, with the merchant's overrides first.

The languages are the widget's own (widget/src/i18n.js), so a shopper reads the same language in the chat
and in their mailbox. Built-in texts may hold `{shop}`, `{name}` or `{count}`; a merchant's override is
used as written (a brace in it is just a brace).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The languages the widget speaks (widget/src/i18n.js, checked by tests/zora/test_shopper_texts.py).
LANGUAGES = ("en", "fr", "de", "es", "ja", "zh-CN")

_EN = {
    "hi": "Hi,",
    "hi_name": "Hi {name},",
    "you": "You",
    "closing": "We closed this conversation after a while without messages. Write again any time.",
    "missed_subject": "{shop}: a new reply to your message",
    "missed_subject_many": "{shop}: {count} new replies to your message",
    "missed_intro": "{shop} answered you in the chat while you were away:",
    "missed_continue": "Continue the conversation",
    "transcript_subject": "{shop}: your conversation with us",
    "transcript_intro": "Here is your conversation with {shop}, for your records:",
    "confirm_subject": "{shop}: confirm your email address",
    "confirm_intro": "Someone gave this address in the chat of {shop} to get replies by email.",
    "confirm_link": "If it was you, confirm it here (the link works once, for a limited time):",
    "confirm_ignore": "If it was not you, ignore this email: nothing more will be sent.",
    "page_title": "Confirm your email",
    "page_question": "Confirm that chat replies may be emailed to you?",
    "page_button": "Confirm my email",
    "page_incomplete": "This link is not complete. Open it from the email again.",
    "page_used": "This link was used already or has expired.",
    "page_changed": "This address is no longer the one given in the chat: nothing was changed.",
    "page_done": "Thank you: your email is confirmed. Replies you miss in the chat will be emailed to you.",
}

BUILT_IN: dict[str, dict[str, str]] = {
    "en": _EN,
    "fr": {
        "hi": "Bonjour,",
        "hi_name": "Bonjour {name},",
        "you": "Vous",
        "closing": "Nous avons fermé cette conversation faute de messages. Écrivez-nous quand vous voulez.",
        "missed_subject": "{shop} : une nouvelle réponse à votre message",
        "missed_subject_many": "{shop} : {count} nouvelles réponses à votre message",
        "missed_intro": "{shop} vous a répondu dans le chat pendant votre absence :",
        "missed_continue": "Reprendre la conversation",
        "transcript_subject": "{shop} : votre conversation avec nous",
        "transcript_intro": "Voici votre conversation avec {shop}, pour vos archives :",
        "confirm_subject": "{shop} : confirmez votre adresse e-mail",
        "confirm_intro": "Quelqu'un a donné cette adresse dans le chat de {shop} pour recevoir les réponses par e-mail.",
        "confirm_link": "Si c'était vous, confirmez-la ici (le lien ne sert qu'une fois, pour un temps limité) :",
        "confirm_ignore": "Si ce n'était pas vous, ignorez cet e-mail : rien d'autre ne sera envoyé.",
        "page_title": "Confirmez votre e-mail",
        "page_question": "Confirmer que les réponses du chat peuvent vous être envoyées par e-mail ?",
        "page_button": "Confirmer mon e-mail",
        "page_incomplete": "Ce lien est incomplet. Ouvrez-le à nouveau depuis l'e-mail.",
        "page_used": "Ce lien a déjà servi ou a expiré.",
        "page_changed": "Cette adresse n'est plus celle donnée dans le chat : rien n'a été changé.",
        "page_done": "Merci : votre e-mail est confirmé. Les réponses que vous manquez dans le chat vous seront envoyées par e-mail.",
    },
    "de": {
        "hi": "Hallo,",
        "hi_name": "Hallo {name},",
        "you": "Sie",
        "closing": "Wir haben dieses Gespräch nach einer Weile ohne Nachrichten geschlossen. Schreiben Sie uns jederzeit.",
        "missed_subject": "{shop}: eine neue Antwort auf Ihre Nachricht",
        "missed_subject_many": "{shop}: {count} neue Antworten auf Ihre Nachricht",
        "missed_intro": "{shop} hat Ihnen im Chat geantwortet, während Sie weg waren:",
        "missed_continue": "Gespräch fortsetzen",
        "transcript_subject": "{shop}: Ihr Gespräch mit uns",
        "transcript_intro": "Hier ist Ihr Gespräch mit {shop} für Ihre Unterlagen:",
        "confirm_subject": "{shop}: Bestätigen Sie Ihre E-Mail-Adresse",
        "confirm_intro": "Jemand hat diese Adresse im Chat von {shop} angegeben, um Antworten per E-Mail zu erhalten.",
        "confirm_link": "Wenn Sie das waren, bestätigen Sie sie hier (der Link gilt einmal und nur kurze Zeit):",
        "confirm_ignore": "Wenn nicht, ignorieren Sie diese E-Mail: Es wird nichts weiter gesendet.",
        "page_title": "E-Mail bestätigen",
        "page_question": "Bestätigen, dass Antworten aus dem Chat per E-Mail an Sie gehen dürfen?",
        "page_button": "Meine E-Mail bestätigen",
        "page_incomplete": "Dieser Link ist unvollständig. Öffnen Sie ihn erneut aus der E-Mail.",
        "page_used": "Dieser Link wurde schon benutzt oder ist abgelaufen.",
        "page_changed": "Diese Adresse ist nicht mehr die im Chat angegebene: Es wurde nichts geändert.",
        "page_done": "Danke: Ihre E-Mail ist bestätigt. Antworten, die Sie im Chat verpassen, erhalten Sie per E-Mail.",
    },
    "es": {
        "hi": "Hola:",
        "hi_name": "Hola, {name}:",
        "you": "Tú",
        "closing": "Cerramos esta conversación tras un tiempo sin mensajes. Escríbenos cuando quieras.",
        "missed_subject": "{shop}: una nueva respuesta a tu mensaje",
        "missed_subject_many": "{shop}: {count} nuevas respuestas a tu mensaje",
        "missed_intro": "{shop} te respondió en el chat mientras no estabas:",
        "missed_continue": "Continuar la conversación",
        "transcript_subject": "{shop}: tu conversación con nosotros",
        "transcript_intro": "Aquí tienes tu conversación con {shop}, para tus registros:",
        "confirm_subject": "{shop}: confirma tu dirección de correo",
        "confirm_intro": "Alguien dio esta dirección en el chat de {shop} para recibir las respuestas por correo.",
        "confirm_link": "Si fuiste tú, confírmala aquí (el enlace funciona una vez, por tiempo limitado):",
        "confirm_ignore": "Si no fuiste tú, ignora este correo: no se enviará nada más.",
        "page_title": "Confirma tu correo",
        "page_question": "¿Confirmas que podemos enviarte por correo las respuestas del chat?",
        "page_button": "Confirmar mi correo",
        "page_incomplete": "Este enlace está incompleto. Ábrelo de nuevo desde el correo.",
        "page_used": "Este enlace ya se usó o ha caducado.",
        "page_changed": "Esta dirección ya no es la que diste en el chat: no se ha cambiado nada.",
        "page_done": "Gracias: tu correo está confirmado. Te enviaremos por correo las respuestas que te pierdas en el chat.",
    },
    "ja": {
        "hi": "こんにちは。",
        "hi_name": "{name} 様",
        "you": "あなた",
        "closing": "しばらくメッセージがなかったため、この会話を終了しました。いつでもまたご連絡ください。",
        "missed_subject": "{shop}: メッセージに新しい返信があります",
        "missed_subject_many": "{shop}: メッセージに {count} 件の新しい返信があります",
        "missed_intro": "ご不在の間に {shop} がチャットで返信しました:",
        "missed_continue": "会話を続ける",
        "transcript_subject": "{shop}: お問い合わせの記録",
        "transcript_intro": "{shop} とのお問い合わせの記録です:",
        "confirm_subject": "{shop}: メールアドレスの確認",
        "confirm_intro": "{shop} のチャットで、返信をメールで受け取るためにこのアドレスが入力されました。",
        "confirm_link": "ご本人の場合は、こちらで確認してください（リンクは一度だけ、期間限定で有効です）:",
        "confirm_ignore": "お心当たりがない場合は、このメールを無視してください。これ以上は送信されません。",
        "page_title": "メールアドレスの確認",
        "page_question": "チャットの返信をメールで受け取りますか？",
        "page_button": "メールアドレスを確認する",
        "page_incomplete": "このリンクは不完全です。メールからもう一度開いてください。",
        "page_used": "このリンクは使用済みか、有効期限が切れています。",
        "page_changed": "このアドレスはチャットで入力されたものではなくなりました。何も変更されていません。",
        "page_done": "ありがとうございます。メールアドレスが確認されました。チャットで見逃した返信はメールでお届けします。",
    },
    "zh-CN": {
        "hi": "您好：",
        "hi_name": "{name}，您好：",
        "you": "您",
        "closing": "由于一段时间没有新消息，我们已关闭此对话。欢迎随时再联系我们。",
        "missed_subject": "{shop}：您的留言有一条新回复",
        "missed_subject_many": "{shop}：您的留言有 {count} 条新回复",
        "missed_intro": "您离开期间，{shop} 在聊天中回复了您：",
        "missed_continue": "继续对话",
        "transcript_subject": "{shop}：您与我们的对话记录",
        "transcript_intro": "以下是您与 {shop} 的对话记录，供您留存：",
        "confirm_subject": "{shop}：请确认您的邮箱地址",
        "confirm_intro": "有人在 {shop} 的聊天中留下了这个地址，以便通过邮件接收回复。",
        "confirm_link": "如果是您本人，请在此确认（链接仅可使用一次，且有时限）：",
        "confirm_ignore": "如果不是您本人，请忽略此邮件：我们不会再发送任何邮件。",
        "page_title": "确认您的邮箱",
        "page_question": "确认可以通过邮件向您发送聊天回复吗？",
        "page_button": "确认我的邮箱",
        "page_incomplete": "此链接不完整。请从邮件中重新打开。",
        "page_used": "此链接已被使用或已过期。",
        "page_changed": "此地址已不是聊天中留下的地址：未做任何更改。",
        "page_done": "谢谢：您的邮箱已确认。您在聊天中错过的回复将通过邮件发送给您。",
    },
}

# What a merchant may override per language (ShopSettings.texts); the widget's greeting and away notice
# are shown by the widget itself, the rest are the server's texts above.
OVERRIDABLE = (
    "greeting",
    "away",
    "closing",
    "missed_subject",
    "missed_intro",
    "transcript_subject",
    "transcript_intro",
    "confirm_subject",
    "confirm_intro",
)


def match_language(tag: str | None) -> str | None:
    """The supported language of a locale tag, as the widget matches it ("fr-CA" -> "fr",
    "zh-Hans" -> "zh-CN", traditional Chinese -> none), or None."""
    if not tag:
        return None
    t = tag.strip().replace("_", "-").lower()
    if t.startswith("zh"):
        return None if t.split("-")[1:2] and t.split("-")[1] in ("tw", "hk", "mo", "hant") else "zh-CN"
    base = t.split("-")[0]
    return base if base in BUILT_IN else None


def pick_language(locale: str | None, shop_languages: list[str] | tuple[str, ...]) -> str:
    """The shopper's language when Zora speaks it, else the shop's first language."""
    return match_language(locale) or (shop_languages[0] if shop_languages else "en")


@dataclass(frozen=True)
class Words:
    """The texts of one language for one shop: overrides (used as written), then the built-in text."""

    lang: str
    overrides: dict[str, str] = field(default_factory=dict)

    def __call__(self, key: str, **values: str | int) -> str:
        if override := self.overrides.get(key):
            return override
        built_in = BUILT_IN.get(self.lang, _EN).get(key) or _EN[key]
        return built_in.format(**values) if values else built_in


def words(lang: str, *layers: dict[str, str | None]) -> Words:
    """Words for `lang`; earlier layers of overrides win over later ones (the language's own, then the
    shop's "any language" ones)."""
    merged: dict[str, str] = {}
    for layer in reversed(layers):
        merged.update({k: v for k, v in layer.items() if v})
    return Words(lang=lang if lang in BUILT_IN else "en", overrides=merged)
