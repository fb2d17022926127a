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
            row.action = actor.action[:ACTION_MAX_CHARS]
            row.acted_at = actor.at

    @threaded
    def episode_actor(self, project_id: int, name: str, episode: int) -> EpisodeActor | None:
        """Who started the episode, when known."""
        with self._sessions() as session:
            row = session.get(EpisodeActorRow, (project_id, name, episode))
            if row is None or row.actor is None:
                return None
            at = utc(row.acted_at) if row.acted_at is not None else None
            return EpisodeActor(who=row.actor, action=row.action or "", at=at)

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
