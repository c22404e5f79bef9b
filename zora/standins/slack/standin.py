"""The Slack stand-in assembled from its API families: which Web API method and which route each one serves."""

from __future__ import annotations

from aiohttp import web

from zora.standins.slack.conversations import Conversations
from zora.standins.slack.inbox import Inbox
from zora.standins.slack.oauth import OAuth
from zora.standins.slack.reactions import Reactions
from zora.standins.slack.streams import Streams
from zora.standins.slack.users import Users
from zora.standins.slack.views import Views
from zora.standins.slack.webapi import WebApi
from zora.standins.slack.workspace import MethodHandler


class SlackStandIn(Inbox, OAuth, WebApi, Conversations, Users, Reactions, Views, Streams):
    """Slack's Web API and Events API for one workspace with one installed bot."""

    def _web_api_methods(self) -> dict[str, MethodHandler]:
        return {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.list": self._conversations_list,
            "conversations.join": self._conversations_join,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "oauth.v2.access": self._oauth_v2_access,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.delete": self._files_delete,
            "reactions.add": self._reactions_add,
            "users.info": self._users_info,
            "users.getPresence": self._users_get_presence,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
        }

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/api/{method}", self._handle_api)
        router.add_get("/socket-mode", self._handle_socket)
        router.add_route("*", "/oauth/v2/authorize", self._handle_authorize)
        router.add_get("/dev/slack", self._handle_inbox)
        router.add_post("/dev/slack/reply", self._handle_inbox_reply)
        router.add_post("/dev/slack/press", self._handle_inbox_press)
        router.add_get("/dev/slack/avatar/{user}.svg", self._handle_avatar)
        router.add_post("/upload/v1/{key}", self._handle_upload)
        # url_private and url_private_download: the bytes for the bot token only.
        router.add_get("/files-pri/{team_file}/download/{name}", self._handle_file_download)
        router.add_get("/files-pri/{team_file}/{name}", self._handle_file_download)
        router.add_get("/dev/slack/files/{file_id}", self._handle_inbox_file)
