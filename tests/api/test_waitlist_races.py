"""Waitlists under concurrency, on PostgreSQL: fair promotion, no overfilled course, no
lost seat, and no deadlock that reaches a client."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from src.database import db
from tests.api.test_events import follow
from tests.api.test_races import race
from tests.api.test_waitlists import enrolled, line

pytestmark = pytest.mark.postgresql

ROUNDS = 3


class SeatWatch:
    """Counts a course's enrollments over and over from its own connection while a
    block runs, so an overfilled moment is seen even if it does not last."""

    def __init__(self, database_url: str, course_id: int) -> None:
        self.engine = create_engine(database_url)
        self.course_id = course_id
        self.most = 0
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        query = text("SELECT count(*) FROM student_courses WHERE course_id = :c")
        with self.engine.connect() as connection:
            while not self._stop.is_set():
                seats = connection.execute(query, {"c": self.course_id}).scalar_one()
                connection.rollback()
                self.most = max(self.most, seats)
                self.reads += 1

    def __enter__(self) -> SeatWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def make_students(client, n: int) -> list[int]:
    ids = []
    for i in range(n):
        body = {"first_name": "R", "last_name": str(i), "email": f"r{i}@example.edu"}
        ids.append(client.post("/students", json=body).get_json()["id"])
    return ids


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_thirty_race_for_five_seats_then_five_drop_at_once(app, client, database_url, round_):
    course = client.post(
        "/courses", json={"code": "HOT", "title": "Hot", "capacity": 5, "waitlist_capacity": None}
    ).get_json()
    students = make_students(client, 30)
    body = {"course_id": course["id"], "waitlist": True}

    with SeatWatch(database_url, course["id"]) as watch:
        joined = race(app, [("POST", f"/students/{s}/courses", body) for s in students])
        statuses = Counter(r.status_code for r in joined)
        seated = [s for s, r in zip(students, joined, strict=True) if r.status_code == 201]
        positions = sorted(
            r.get_json()["waitlist_position"] for r in joined if r.status_code == 202
        )
        with app.app_context():
            before = line(course["id"])

        dropped = race(
            app, [("DELETE", f"/students/{s}/courses/{course['id']}", None) for s in seated]
        )

    assert statuses == {201: 5, 202: 25}, statuses
    assert positions == list(range(1, 26))
    assert [r.status_code for r in dropped] == [204] * 5
    with app.app_context():
        assert enrolled(course["id"]) == sorted(before[:5])
        assert line(course["id"]) == before[5:]
    waitlist = client.get(f"/courses/{course['id']}/waitlist?limit=100").get_json()
    assert [(s["id"], s["waitlist_position"]) for s in waitlist] == list(
        zip(before[5:], range(1, 21), strict=True)
    )
    assert watch.reads > 0
    assert watch.most <= 5


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_drops_joins_leaves_and_capacity_changes_never_lose_or_overfill_a_seat(
    app, client, database_url, round_
):
    course = client.post(
        "/courses", json={"code": "MIX", "title": "Mix", "capacity": 3, "waitlist_capacity": 8}
    ).get_json()
    course_id = course["id"]
    students = make_students(client, 16)
    db.session.close()
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    capacity_seen: list[int] = [3]

    def act(seed: int) -> None:
        rng = random.Random(seed * 1000 + round_)
        client = app.test_client()
        while not stop.is_set():
            student = rng.choice(students)
            roll = rng.random()
            if roll < 0.45:
                body = {"course_id": course_id, "waitlist": True}
                response = client.post(f"/students/{student}/courses", json=body)
            elif roll < 0.85:
                response = client.delete(f"/students/{student}/courses/{course_id}")
            elif roll < 0.95:
                capacity = rng.randint(1, 6)
                response = client.patch(f"/courses/{course_id}", json={"capacity": capacity})
                if response.status_code == 200:
                    capacity_seen.append(capacity)
            else:
                response = client.patch(
                    f"/courses/{course_id}", json={"waitlist_capacity": rng.randint(0, 10)}
                )
            statuses[response.status_code] += 1

    with SeatWatch(database_url, course_id) as watch, ThreadPoolExecutor(8) as pool:
        actors = [pool.submit(act, seed) for seed in range(8)]
        time.sleep(3)
        stop.set()
        for actor in actors:
            actor.result()

    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 201, 202, 204, 404, 409}, statuses
    assert statuses[201] + statuses[202] > 20
    final = client.get(f"/courses/{course_id}").get_json()
    with app.app_context():
        seats, waiting = enrolled(course_id), line(course_id)
    assert len(seats) <= final["capacity"]
    if waiting:
        assert len(seats) == final["capacity"], "a seat is free while students wait"
    assert watch.most <= max(capacity_seen)

    # Replaying the feed rebuilds both the enrollments and the line.
    events, _ = follow(client, limit=1000)
    seated_mirror: set[int] = set()
    line_mirror: list[int] = []
    for event in events:
        student = event["student_id"]
        if event["type"] in ("enrolled", "promoted"):
            assert student not in seated_mirror
            seated_mirror.add(student)
        if event["type"] in ("promoted", "left_waitlist"):
            line_mirror.remove(student)
        if event["type"] == "waitlisted":
            line_mirror.append(student)
        if event["type"] == "dropped":
            seated_mirror.remove(student)
    assert sorted(seated_mirror) == seats
    assert line_mirror == waiting
