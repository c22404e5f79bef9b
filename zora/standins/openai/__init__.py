"""An OpenAI-compatible chat completions endpoint on loopback, with a scripted, deterministic demo model.

Zora reaches it through `OPENAI_BASE_URL` (`{origin}/v1`), so the code under test cannot tell it from a
provider for what is modelled here:

- `POST /v1/chat/completions` with `messages`, `tools` (functions with JSON-schema parameters),
  `tool_choice` ("auto", "none", "required", or one function) and `stream`. Answers have the shape of
  OpenAI's published examples: a `chat.completion` object, or with `stream: true` server-sent events of
  `chat.completion.chunk` objects (`choices[].delta`: the role first, then content pieces, or tool calls
  by `index` with their `arguments` in fragments), a last chunk with `finish_reason`, a usage chunk
  (`choices: []`) when `stream_options.include_usage` is set, then `data: [DONE]`.
- Requests are checked like the provider checks them: a missing or wrong bearer key is a 401, a
  malformed body or a tool message that answers no tool call is a 400, with OpenAI's error envelope.

The demo model reads the last message. A shopper's question about an order, a product, store policies or
a person becomes a call of the offered tool whose name says so (`order`, `product`, `polic`/`faq`,
`hand`), with arguments filled from the question into that tool's schema; several such questions at once
become parallel calls. Once the conversation holds the tool results, it answers from them. For Zora's
order tools it plays the whole proof of identity: asked for the email, it sends a code to the address the
shopper types (`send_verification_code`, with the order number they asked about), checks a typed 6-digit
code (`check_verification_code`), then looks the order up again. Anything else gets a short greeting. The same input always gives the same output, ids included.

Test controls (:meth:`OpenAIStandIn.fail_next`) make the next requests fail as providers do: a 429 with
`retry-after`, a 500 or any other error status, a hang (before the first byte or after some chunks), a
tool call whose `arguments` are not JSON, or a prompt-injection attempt (the model asks a tool for
another shop's and customer's data).
A shopper message that says to ignore the instructions makes the demo model try the same.
:meth:`OpenAIStandIn.replay_next` answers the next streaming request with a recorded provider stream,
byte for byte, to check a client against real output.

Not modelled: other endpoints, `n` > 1, logprobs, structured outputs (`response_format`), images and
audio, real tokenization (usage counts are a deterministic estimate).

The package: ``model.py`` (the demo model), ``wire.py`` (OpenAI's request checks, answers and streams),
``standin.py`` (the server, its test controls).
"""

from __future__ import annotations

from zora.standins.openai.model import GREETING, INJECTION_EMAIL, INJECTION_ORDER, INJECTION_SHOP
from zora.standins.openai.standin import FailureKind, OpenAIStandIn, StandInError

__all__ = [
    "GREETING",
    "INJECTION_EMAIL",
    "INJECTION_ORDER",
    "INJECTION_SHOP",
    "FailureKind",
    "OpenAIStandIn",
    "StandInError",
]
