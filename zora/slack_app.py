"""What Zora's Slack app is granted: the bot scopes slack/manifest.yml asks for (a test keeps the
two equal). `zora doctor` checks an installed app against them; the stand-in grants them."""

BOT_SCOPES = (
    "chat:write",
    "channels:history",
    "groups:history",
    "users:read",
    "commands",
    "reactions:read",
    "reactions:write",
    "files:read",
    "files:write",
    "channels:read",
    "groups:read",
    "usergroups:read",
    "channels:join",
)
