"""Who started each episode (``episode_actors``): looked up once in Gcore's audit log, found or not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.history import EpisodeActor
from bot.store.base import StoreBase
from bot.store.engine import threaded, utc
from bot.store.schema import EpisodeActorRow, ThreadRow

# The column's width: an email address is at most 254 characters.
ACTOR_MAX_CHARS = 254
ACTION_MAX_CHARS = 32


# Marks an actor from the bot's own audit in the ``action`` column. Gcore's action types lose any colon when
# stored, so nothing Gcore sends can pass for a Slack user to be mentioned.
IN_SLACK = "slack:"


def actor_of_row(row: EpisodeActorRow) -> EpisodeActor | None:
    """The actor a row names, if any."""
    if row.actor is None:
        return None
    action = row.action or ""
    at = utc(row.acted_at) if row.acted_at is not None else None
    in_slack = action.startswith(IN_SLACK)
    return EpisodeActor(who=row.actor, action=action.removeprefix(IN_SLACK), at=at, in_slack=in_slack)


class Actors(StoreBase):
    """Reads and writes of episodes' actors."""

    @threaded
    def claim_actor_lookup(self, project_id: int, name: str, episode: int, now: datetime) -> bool:
        """Take the episode's one lookup: True for the first caller, False once anyone took it (in this
        process or another), whether or not it found anyone."""
        try:
            with self._sessions.begin() as session:
                if session.get(EpisodeActorRow, (project_id, name, episode)) is not None:
                    return False
                session.add(
                    EpisodeActorRow(project_id=project_id, name=name, episode=episode, looked_up_at=now)
                )
        except IntegrityError:
            return False
        return True

    @threaded
    def save_episode_actor(self, project_id: int, name: str, episode: int, actor: EpisodeActor) -> None:
        """Remember who started the episode (its lookup taken or not)."""
        with self._sessions.begin() as session:
            row = session.get(EpisodeActorRow, (project_id, name, episode))
            if row is None:
                row = EpisodeActorRow(project_id=project_id, name=name, episode=episode)
                session.add(row)
            row.actor = actor.who[:ACTOR_MAX_CHARS]
            action = IN_SLACK + actor.action if actor.in_slack else actor.action.replace(":", " ")
            row.action = action[:ACTION_MAX_CHARS]
            row.acted_at = actor.at

    @threaded
    def episode_actor(self, project_id: int, name: str, episode: int) -> EpisodeActor | None:
        """Who started the episode, when known."""
        with self._sessions() as session:
            row = session.get(EpisodeActorRow, (project_id, name, episode))
            return actor_of_row(row) if row is not None else None

    @threaded
    def episode_threads(
        self, project_id: int, name: str, episode: int, purpose: str
    ) -> list[tuple[str, str]]:
        """Each channel's message for the episode and purpose: ``(channel_id, ts)``."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ThreadRow).where(
                    ThreadRow.project_id == project_id,
                    ThreadRow.name == name,
                    ThreadRow.episode == episode,
                    ThreadRow.purpose == purpose,
                )
            )
            return [(row.channel_id, row.ts) for row in rows]
