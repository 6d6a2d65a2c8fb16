"""In-memory fakes of the kit's ports, for use-case tests (pure logic: no servers).

A service's tests give `FakeUnitOfWork` their in-memory repositories; it behaves as the Postgres unit of work
does: events recorded are published on `commit()`, and leaving the block without it puts every repository back
as it was (a deep copy of its state taken on entry).
"""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Any, Self


class FakeUnitOfWork:
    def __init__(self, published: list[Any], **repositories: Any) -> None:
        self.published = published  # shared by the unit-of-work instances of one test: every committed event
        self._repositories = repositories
        for name, repository in repositories.items():
            setattr(self, name, repository)
        self._events: list[Any] = []
        self._committed = False
        self._saved: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> Self:
        self._saved = {name: copy.deepcopy(vars(repo)) for name, repo in self._repositories.items()}
        self._events, self._committed = [], False
        return self

    def record(self, event: Any) -> None:
        self._events.append(event)

    async def commit(self) -> None:
        self.published.extend(self._events)
        self._events, self._committed = [], True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed:
            for name, state in self._saved.items():
                vars(self._repositories[name]).clear()
                vars(self._repositories[name]).update(state)
        self._events = []
