"""Handlers of /users: usernames to share with, as the share dialog suggests them.

A signed-in user may learn other users' usernames by their first letters,
and nothing else about them (not whether they are admins, their quota or
their files): the rule of Nextcloud's default "username autocompletion".
See docs/api.md, Sharing.
"""

from __future__ import annotations

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import UsersQuery, UserSuggestion, UserSuggestions


async def get_users(call: Call[UsersQuery, None]) -> UserSuggestions:
    names = await call.runtime.shares.suggest_users(call.who, call.query.q, call.query.limit)
    return UserSuggestions([UserSuggestion(n) for n in names])
