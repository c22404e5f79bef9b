# ruff: noqa: RUF001  (full-width punctuation is how Chinese and Japanese are written)
"""Every text a shopper receives outside the widget (the closing message, the missed-reply, transcript and
address-confirmation emails, the assistant's verification-code email and what it says of a drafted action's
outcome), in the shopper's language, with the merchant's overrides first (where the settings have one).

The languages are the widget's own (widget/src/i18n.js), so a shopper reads the same language in the chat
and in their mailbox. Built-in texts may hold `{shop}`, `{name}`, `{count}`, `{code}`, `{order}`,
`{address}` or `{request}`; a merchant's override is used as written (a brace in it is just a brace).
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
    "code_subject": "{shop}: your code is {code}",
    "code_intro": "Your code for the chat of {shop} is:",
    "code_use": "Type it in the chat to see your order. It works once, for 10 minutes.",
    "code_ignore": "If you did not ask for it, ignore this email: nobody can use it without you.",
    "action_done_cancel_order": "Order {order} has been cancelled.",
    "action_done_refund_request": "Your refund request for order {order} has been passed to our team; they will get back to you about it here.",
    "action_done_address_change": "The shipping address of order {order} is now: {address}.",
    "action_cancel_order": "cancel order {order}",
    "action_refund_request": "refund for order {order}",
    "action_address_change": "new shipping address for order {order}",
    "action_failed": "Sorry, we could not carry out your request ({request}) automatically. A person from our team will follow up here.",
    "action_expired": "Your request ({request}) was not approved in time. A person from our team will follow up here.",
    "action_denied": "Our team could not approve your request ({request}). A person will follow up here.",
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
        "code_subject": "{shop} : votre code est {code}",
        "code_intro": "Votre code pour le chat de {shop} :",
        "code_use": "Saisissez-le dans le chat pour voir votre commande. Il ne sert qu'une fois, pendant 10 minutes.",
        "code_ignore": "Si vous ne l'avez pas demandé, ignorez cet e-mail : personne ne peut l'utiliser sans vous.",
        "action_done_cancel_order": "La commande {order} a été annulée.",
        "action_done_refund_request": "Votre demande de remboursement pour la commande {order} a été transmise à notre équipe ; elle vous répondra ici.",
        "action_done_address_change": "L'adresse de livraison de la commande {order} est maintenant : {address}.",
        "action_cancel_order": "annulation de la commande {order}",
        "action_refund_request": "remboursement de la commande {order}",
        "action_address_change": "nouvelle adresse de livraison pour la commande {order}",
        "action_failed": "Désolés, nous n'avons pas pu traiter votre demande ({request}) automatiquement. Une personne de notre équipe va vous répondre ici.",
        "action_expired": "Votre demande ({request}) n'a pas été approuvée à temps. Une personne de notre équipe va vous répondre ici.",
        "action_denied": "Notre équipe n'a pas pu approuver votre demande ({request}). Une personne va vous répondre ici.",
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
        "code_subject": "{shop}: Ihr Code lautet {code}",
        "code_intro": "Ihr Code für den Chat von {shop}:",
        "code_use": "Geben Sie ihn im Chat ein, um Ihre Bestellung zu sehen. Er gilt einmal, 10 Minuten lang.",
        "code_ignore": "Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail: Ohne Sie kann niemand ihn verwenden.",
        "action_done_cancel_order": "Die Bestellung {order} wurde storniert.",
        "action_done_refund_request": "Ihre Rückerstattungsanfrage für die Bestellung {order} wurde an unser Team weitergegeben; es meldet sich hier bei Ihnen.",
        "action_done_address_change": "Die Lieferadresse der Bestellung {order} lautet jetzt: {address}.",
        "action_cancel_order": "Stornierung der Bestellung {order}",
        "action_refund_request": "Rückerstattung für die Bestellung {order}",
        "action_address_change": "neue Lieferadresse für die Bestellung {order}",
        "action_failed": "Leider konnten wir Ihre Anfrage ({request}) nicht automatisch ausführen. Jemand aus unserem Team meldet sich hier bei Ihnen.",
        "action_expired": "Ihre Anfrage ({request}) wurde nicht rechtzeitig genehmigt. Jemand aus unserem Team meldet sich hier bei Ihnen.",
        "action_denied": "Unser Team konnte Ihre Anfrage ({request}) nicht genehmigen. Jemand meldet sich hier bei Ihnen.",
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
        "code_subject": "{shop}: tu código es {code}",
        "code_intro": "Tu código para el chat de {shop} es:",
        "code_use": "Escríbelo en el chat para ver tu pedido. Funciona una vez, durante 10 minutos.",
        "code_ignore": "Si no lo pediste, ignora este correo: nadie puede usarlo sin ti.",
        "action_done_cancel_order": "El pedido {order} ha sido cancelado.",
        "action_done_refund_request": "Tu solicitud de reembolso del pedido {order} se ha pasado a nuestro equipo; te responderán aquí.",
        "action_done_address_change": "La dirección de envío del pedido {order} es ahora: {address}.",
        "action_cancel_order": "cancelación del pedido {order}",
        "action_refund_request": "reembolso del pedido {order}",
        "action_address_change": "nueva dirección de envío del pedido {order}",
        "action_failed": "Lo sentimos, no pudimos realizar tu solicitud ({request}) automáticamente. Una persona de nuestro equipo te responderá aquí.",
        "action_expired": "Tu solicitud ({request}) no se aprobó a tiempo. Una persona de nuestro equipo te responderá aquí.",
        "action_denied": "Nuestro equipo no pudo aprobar tu solicitud ({request}). Una persona te responderá aquí.",
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
        "code_subject": "{shop}: 確認コードは {code} です",
        "code_intro": "{shop} のチャット用の確認コード:",
        "code_use": "チャットに入力すると、ご注文を確認できます。コードは一度だけ、10分間有効です。",
        "code_ignore": "お心当たりがない場合は、このメールを無視してください。このコードはあなた以外には使えません。",
        "action_done_cancel_order": "ご注文 {order} をキャンセルしました。",
        "action_done_refund_request": "ご注文 {order} の返金のご依頼を担当者に引き継ぎました。こちらでご連絡いたします。",
        "action_done_address_change": "ご注文 {order} の配送先住所を次のとおり変更しました: {address}",
        "action_cancel_order": "ご注文 {order} のキャンセル",
        "action_refund_request": "ご注文 {order} の返金",
        "action_address_change": "ご注文 {order} の配送先住所の変更",
        "action_failed": "申し訳ありません。ご依頼（{request}）を自動で処理できませんでした。担当者がこちらでご連絡いたします。",
        "action_expired": "ご依頼（{request}）は時間内に承認されませんでした。担当者がこちらでご連絡いたします。",
        "action_denied": "ご依頼（{request}）を承認できませんでした。担当者がこちらでご連絡いたします。",
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
        "code_subject": "{shop}：您的验证码是 {code}",
        "code_intro": "您在 {shop} 聊天中使用的验证码是：",
        "code_use": "请在聊天中输入此验证码以查看您的订单。验证码仅可使用一次，10 分钟内有效。",
        "code_ignore": "如果您没有申请验证码，请忽略此邮件：没有您，任何人都无法使用它。",
        "action_done_cancel_order": "订单 {order} 已取消。",
        "action_done_refund_request": "您对订单 {order} 的退款申请已转交我们的团队，他们会在这里回复您。",
        "action_done_address_change": "订单 {order} 的收货地址现已改为：{address}。",
        "action_cancel_order": "取消订单 {order}",
        "action_refund_request": "订单 {order} 退款",
        "action_address_change": "更改订单 {order} 的收货地址",
        "action_failed": "抱歉，我们无法自动处理您的请求（{request}）。我们团队的工作人员会在这里跟进。",
        "action_expired": "您的请求（{request}）未能及时获得批准。我们团队的工作人员会在这里跟进。",
        "action_denied": "我们的团队未能批准您的请求（{request}）。工作人员会在这里跟进。",
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
