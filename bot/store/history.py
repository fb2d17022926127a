"""History: a deployment's latest episodes from the transitions table, bounded however long it has been
watched and however long an episode ran."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.history import ASLEEP, MAX_EPISODES, MAX_STEPS, Episode, History
from bot.store.actors import actor_of_row
from bot.store.base import StoreBase
from bot.store.convert import to_transition
from bot.store.engine import threaded, utc
from bot.store.schema import EpisodeActorRow, TransitionRow
from bot.watch.transitions import AlertKind, Transition, canonical_status


class Histories(StoreBase):
    """Reads of a deployment's past."""

    @threaded
    def history(
        self, project_id: int, name: str, *, episodes: int = MAX_EPISODES, steps: int = MAX_STEPS
    ) -> History:
        """The deployment's latest ``episodes`` (at least 1), newest first, each with at most ``steps``
        (at least 3) of its steps: the first, the first problem and the latest; and its naps."""
        mine = (TransitionRow.project_id == project_id, TransitionRow.name == name)
        with self._sessions() as session:
            ids = list(
                session.scalars(
                    select(TransitionRow.episode)
                    .where(*mine, TransitionRow.episode != 0)
                    .group_by(TransitionRow.episode)
                    .order_by(TransitionRow.episode.desc())
                    .limit(episodes + 1)
                )
            )
            older, ids = len(ids) > episodes, ids[:episodes]
            found = self._episodes(session, mine, ids, steps, (project_id, name))
            since = found[-1].began if older and found else None
            naps, first_nap = self._naps(session, mine, since)
        return History(
            project_id=project_id,
            name=name,
            episodes=tuple(found),
            older=older,
            naps=naps,
            naps_since=first_nap,
        )

    @threaded
    def status_since(self, project_id: int, name: str, status: str) -> datetime | None:
        """When the watcher last saw the deployment move to ``status``; None when it never did (nobody
        watches it, or it has had that status since it was first seen)."""
        with self._sessions() as session:
            moment = session.scalar(
                select(TransitionRow.at)
                .where(
                    TransitionRow.project_id == project_id,
                    TransitionRow.name == name,
                    TransitionRow.new_status == canonical_status(status),
                    TransitionRow.kind.in_((AlertKind.CHANGED, AlertKind.CREATED)),
                )
                .order_by(TransitionRow.id.desc())
                .limit(1)
            )
            return utc(moment) if moment is not None else None

    @staticmethod
    def _episodes(
        session: Session, mine: tuple[Any, ...], ids: list[int], steps: int, deployment: tuple[int, str]
    ) -> list[Episode]:
        """The episodes ``ids``, newest first, with the steps kept of each; one query, numbered per
        episode from either end, so a flapping episode of thousands of steps costs no more than ``steps``."""
        if not ids:
            return []
        episode = TransitionRow.episode
        numbered = (
            select(
                TransitionRow.id.label("id"),
                func.row_number().over(partition_by=episode, order_by=TransitionRow.id).label("nth"),
                func.row_number()
                .over(partition_by=episode, order_by=TransitionRow.id.desc())
                .label("from_end"),
                func.row_number()
                .over(partition_by=(episode, TransitionRow.problem), order_by=TransitionRow.id)
                .label("nth_of_kind"),
                func.count().over(partition_by=episode).label("total"),
            )
            .where(*mine, episode.in_(ids))
            .subquery()
        )
        kept = or_(
            numbered.c.total <= steps,
            numbered.c.nth == 1,
            numbered.c.from_end <= max(steps, 3) - 2,
            and_(TransitionRow.problem.is_(True), numbered.c.nth_of_kind == 1),
        )
        rows = session.execute(
            select(TransitionRow, numbered.c.total)
            .join(numbered, numbered.c.id == TransitionRow.id)
            .where(kept)
            .order_by(TransitionRow.id)
        )
        story: dict[int, list[Transition]] = defaultdict(list)
        totals: dict[int, int] = {}
        for row, total in rows:
            story[row.episode].append(to_transition(row))
            totals[row.episode] = total
        project_id, name = deployment
        actors = {
            row.episode: actor_of_row(row)
            for row in session.scalars(
                select(EpisodeActorRow).where(
                    EpisodeActorRow.project_id == project_id,
                    EpisodeActorRow.name == name,
                    EpisodeActorRow.episode.in_(ids),
                    EpisodeActorRow.actor.is_not(None),
                )
            )
            if row.actor is not None
        }
        return [
            Episode(id=i, steps=tuple(story[i]), step_count=totals[i], actor=actors.get(i))
            for i in ids
            if story[i]
        ]

    @staticmethod
    def _naps(session: Session, mine: tuple[Any, ...], since: datetime | None) -> tuple[int, datetime | None]:
        """How often the deployment was scaled to zero (since ``since``, if given), and when first."""
        query = select(func.count(), func.min(TransitionRow.at)).where(
            *mine, TransitionRow.episode == 0, TransitionRow.new_status == ASLEEP
        )
        if since is not None:
            query = query.where(TransitionRow.at >= since)
        count, first = session.execute(query).one()
        return int(count), utc(first) if first else None
