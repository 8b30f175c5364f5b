"""The FeedHorizon model: how far the change feed was pruned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base


class FeedHorizon(Base):
    """The one row that ``flask events prune`` writes: how many prunes there were, and
    the last transaction whose events they deleted (on SQLite, the last event id: see
    ``src.services.events``). A feed cursor that had not read past it when the prune
    ran has missed events, and is told so (410)."""

    __tablename__ = "feed_horizon"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    prunes: Mapped[int]
    pruned_through: Mapped[int] = mapped_column(BigInteger)
    pruned_before: Mapped[datetime]
    pruned_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def __repr__(self) -> str:
        return f"<FeedHorizon through {self.pruned_through}>"
