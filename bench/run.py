"""The benchmark: the service as deployed against a raw-psycopg2 floor, side by side.

One command (``make bench``) does everything on this machine: creates and seeds a
PostgreSQL database, serves the project with its production gunicorn configuration
(authentication and rate limiting on, the limit far above the offered load, Redis
storage) and the floor with as many gunicorn workers, drives both with wrk, scales
the data tenfold, checks the query plans, and writes docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import rush

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "lua"
REPORT = ROOT / "docs" / "benchmarks.md"
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"
CYCLE_COURSES = 100


def log(message: str) -> None:
    print(message, flush=True)


def run(*args: str, env: dict | None = None, capture: bool = False) -> str:
    result = subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.DEVNULL if capture else None,
    )
    return result.stdout or ""


def flask(*args: str, env: dict) -> str:
    """Run one of the project's CLI commands; return the last line it printed."""
    return (
        run(str(BIN / "flask"), "--app", "wsgi", *args, env=env, capture=True)
        .strip()
        .splitlines()[-1]
    )


def psql(database: str, sql: str) -> str:
    return run(
        "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-Atqc", sql, capture=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(name: str, argv: list[str], env: dict, port: int, cwd: Path = ROOT):
    """Run a server (from ``cwd``) until the block ends; wait until it answers."""
    logfile = open(ROOT / "bench" / f".{name}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdout=logfile, stderr=logfile
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/courses", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        logfile.close()


@contextmanager
def worktree(ref: str):
    """The project's code at ``ref``, checked out beside this one for the block."""
    sha = run("git", "rev-parse", "--verify", f"{ref}^{{commit}}", capture=True).strip()
    folder = Path(tempfile.mkdtemp(prefix=f"registrar-{sha[:8]}-"))
    run("git", "worktree", "add", "--detach", "--force", str(folder), sha, capture=True)
    try:
        yield folder
    finally:
        run("git", "worktree", "remove", "--force", str(folder), capture=True)


def report_comparison(args: argparse.Namespace, results: dict[str, dict]) -> None:
    """Print an A/B run (the current code against --before) and keep it in bench/.compare.json."""
    lines = [f"current code against {args.before}, {args.rounds} alternating rounds:"]
    summary: dict[str, Any] = {"before": args.before, "requests": {}}
    for name, sides in results.items():
        runs = sides["runs"]
        gain = [a["rps"] / b["rps"] for a, b in zip(runs["project"], runs["before"], strict=True)]
        summary["requests"][name] = {
            "project/before": [round(r, 3) for r in gain],
            "project rps": [r["rps"] for r in runs["project"]],
            "before rps": [r["rps"] for r in runs["before"]],
        }
        lines.append(
            f"  {name}: project/before median {statistics.median(gain):.3f}, "
            f"quartiles {statistics.quantiles(gain, n=4)[0]:.3f} to "
            f"{statistics.quantiles(gain, n=4)[2]:.3f} "
            f"(by round {', '.join(f'{g:.3f}' for g in gain)})"
        )
    log("\n".join(lines))
    (ROOT / "bench" / ".compare.json").write_text(json.dumps(summary, indent=1))


def wrk(url: str, script: str, seconds: int, connections: int, env: dict) -> dict:
    """One wrk run; returns its summary plus the CPU seconds wrk itself used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = run(
        "wrk",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
        env={"BENCH_LUA_DIR": str(LUA), **env},
        capture=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(re.search(r"^BENCH (.*)$", out, re.M)[1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary["wrk_cpu_pct"] = round(100 * cpu / seconds, 1)
    return summary


def side_by_side(
    sides: dict[str, tuple[str, dict]],
    script: str,
    args: argparse.Namespace,
    connections: int | None = None,
) -> dict[str, Any]:
    """Measure each side ``args.rounds`` times, alternating which goes first.

    The machine is shared: its speed drifts within seconds. Alternating rounds put
    both sides through the same drift; each side's median run is reported, with the
    ratio of every round.
    """
    names = list(sides)
    connections = connections or args.connections
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for name in names:
        url, env = sides[name]
        wrk(url, script, args.warmup, connections, env)
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            url, env = sides[name]
            runs[name].append(wrk(url, script, args.duration, connections, env))
    result: dict[str, Any] = {
        name: sorted(runs[name], key=lambda r: r["rps"])[args.rounds // 2] for name in names
    }
    result["runs"] = runs
    first, second = names[:2]
    pairs = list(zip(runs[first], runs[second], strict=True))
    result["ratios"] = [round(a["rps"] / b["rps"], 3) for a, b in pairs]
    result["p50_ratios"] = [round(a["p50_ms"] / b["p50_ms"], 3) for a, b in pairs]
    # The first side against each other side, round by round.
    result["ratios_vs"] = {
        other: [
            round(a["rps"] / b["rps"], 3) for a, b in zip(runs[first], runs[other], strict=True)
        ]
        for other in names[1:]
    }
    return result


def explain(database: str, statements: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """EXPLAIN each request-path statement; flag any sequential scan of student_courses
    or courses."""
    rows = []
    for label, sql in statements:
        plan = psql(database, f"EXPLAIN {sql}")
        rows.append(
            (label, plan, bool(re.search(r"Seq Scan on (student_courses|courses)\b", plan)))
        )
    return rows


def findings_query(database: str) -> str:
    """The query of the registration rules' function, as the database holds it."""
    source = psql(database, "SELECT prosrc FROM pg_proc WHERE proname = 'registration_findings'")
    return source.split("RETURN QUERY", 1)[1].rsplit(";", 1)[0]


def request_path_sql(student_id: int, course_id: int, findings_sql: str) -> list[tuple[str, str]]:
    """The shape of the statements on the service's hot paths, stated here rather than
    imported from the app: a change there must show up as a change here, on purpose
    (but for the rules' query, which the database holds: ``findings_sql``)."""
    s, c = student_id, course_id
    enrolled = "courses.enrolled_count"
    course_columns = (
        "courses.id, courses.term_id, courses.code, courses.title, courses.description, "
        "courses.credits, courses.capacity, courses.waitlist_capacity, courses.meetings, "
        "courses.prerequisites, courses.corequisites, "
        f"{enrolled}, courses.capacity - {enrolled} AS seats_available, "
        "courses.created_at, courses.updated_at"
    )
    student_columns = (
        "students.id, students.first_name, students.last_name, students.email, "
        "students.created_at, students.updated_at"
    )
    return [
        (
            "student's courses: 404 check, total and page (one statement)",
            f"SELECT counted.total, page.* FROM (SELECT (SELECT count(*) FROM student_courses "
            f"WHERE student_id = {s}) AS total FROM students WHERE id = {s}) counted "
            f"LEFT JOIN (SELECT {course_columns}, sc.enrolled_at FROM student_courses sc "
            f"JOIN courses ON courses.id = sc.course_id WHERE sc.student_id = {s} "
            "ORDER BY sc.enrolled_at, sc.course_id LIMIT 20 OFFSET 0) page ON true "
            "ORDER BY page.enrolled_at, page.id",
        ),
        (
            "roster: 404 check, total and page (one statement)",
            f"SELECT counted.total, page.* FROM (SELECT (SELECT count(*) FROM student_courses "
            f"WHERE course_id = {c}) AS total FROM courses WHERE id = {c}) counted "
            f"LEFT JOIN (SELECT {student_columns}, sc.enrolled_at FROM student_courses sc "
            f"JOIN students ON students.id = sc.student_id WHERE sc.course_id = {c} "
            "ORDER BY sc.enrolled_at, sc.student_id LIMIT 20 OFFSET 0) page ON true "
            "ORDER BY page.enrolled_at, page.id",
        ),
        (
            "enroll: the registration rules' findings (the query of registration_findings())",
            findings_sql.replace("p_student", str(s)).replace("p_course", str(c)),
        ),
        (
            "unenroll: lock, delete and record (one statement)",
            "WITH course AS (SELECT id FROM courses "
            f"WHERE id = {c} FOR NO KEY UPDATE), changed AS (DELETE FROM student_courses "
            f"WHERE student_id = {s} AND course_id = (SELECT id FROM course) "
            "RETURNING student_id, course_id), recorded AS (INSERT INTO enrollment_events "
            "(type, student_id, course_id, actor_kind) SELECT 'dropped', student_id, course_id, "
            "'system' FROM changed) SELECT course.id, (SELECT count(*) FROM changed) FROM course",
        ),
        (
            "delete a course (RESTRICT check)",
            f"SELECT 1 FROM student_courses WHERE course_id = {c} LIMIT 1",
        ),
        (
            "GET /courses?q=: text in the code or title (trigram indexes)",
            f"SELECT {course_columns} FROM courses WHERE lower(courses.code) LIKE '%grown-4242%' "
            "ESCAPE '\\' OR lower(courses.title) LIKE '%grown-4242%' ESCAPE '\\' "
            "ORDER BY courses.id LIMIT 20",
        ),
    ]


#: Courses added to the grown copy, for the plan of a search.
GROWN_COURSES = 100_000
#: The row of a filtered course list, measured against the floor alone.
TERM_ROW = "GET /courses?term_id=…&has_seats=true"
BENCH_TERMS = 4


def spread_over_terms(database: str) -> int:
    """Four terms, the seeded courses spread over them and a third of them made full (a
    capacity of the students they have); return the id of one term, for the filtered
    list's row."""
    psql(
        database,
        "INSERT INTO terms (code, name, starts_on, ends_on) SELECT 'BENCH-T' || n, 'Bench ' || n, "
        f"DATE '2027-01-01' + 120 * n, DATE '2027-04-01' + 120 * n "
        f"FROM generate_series(1, {BENCH_TERMS}) n",
    )
    psql(
        database,
        "UPDATE courses SET term_id = t.id FROM terms t "
        f"WHERE t.code = 'BENCH-T' || (1 + courses.id % {BENCH_TERMS}) "
        "AND courses.code NOT LIKE 'BENCH-%'",
    )
    psql(
        database,
        "UPDATE courses SET capacity = greatest(1, enrolled_count) "
        "WHERE id % 3 = 0 AND code NOT LIKE 'BENCH-%'",
    )
    return int(psql(database, "SELECT id FROM terms WHERE code = 'BENCH-T1'"))


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        // 1024
        // 1024
    )
    postgres = psql("postgres", "SHOW server_version").strip()
    wrk_version = subprocess.run(
        ["wrk", "-v"], capture_output=True, text=True, check=False
    ).stdout.split()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {postgres}, wrk {wrk_version[1] if len(wrk_version) > 1 else '?'}"
    )


def ensure_wrk() -> None:
    """wrk, from Debian when it is missing and we may install it (as make test does)."""
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("== installing wrk from Debian")
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=quiet)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: sudo apt-get install wrk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--courses", type=int, default=1_000)
    parser.add_argument("--per-student", type=int, default=10)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per side")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scale", type=int, default=10, help="grow enrollments this many times")
    parser.add_argument("--database", default="registrar_bench")
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also serve the project as it was at this git commit, beside the current code, "
        "in the same alternating rounds, and report both",
    )
    parser.add_argument(
        "--only",
        choices=("all", "hot", "rush"),
        default="all",
        help="hot: only the three hot-path requests, of the project and --before alone (an A/B "
        "run of one change); printed and saved in bench/.compare.json, not in the report; "
        "rush: everything up to the two rushes, printed only",
    )
    args = parser.parse_args()
    ensure_wrk()

    workers = int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) * 2 + 1))
    url = f"{PG}/{args.database}"
    log(f"== database {args.database}")
    for database in (args.database, f"{args.database}_grown"):
        run("dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", database)
    run("createdb", "-h", "127.0.0.1", "-U", "postgres", args.database)
    env = {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    run(str(BIN / "alembic"), "upgrade", "head", env=env, capture=True)
    started = time.perf_counter()
    seeded = flask(
        "seed", "--students", str(args.students), "--courses", str(args.courses),
        "--per-student", str(args.per_student), "--random-seed", "1", env=env,
    )  # fmt: skip
    seed_seconds = time.perf_counter() - started
    log(f"   {seeded} (command: {seed_seconds:.1f} s)")
    first_cycle = args.courses + 1
    psql(
        args.database,
        "INSERT INTO courses (code, title, capacity) SELECT 'BENCH-' || n, 'Bench ' || n, NULL "
        f"FROM generate_series(1, {CYCLE_COURSES}) n",
    )
    bench_term = spread_over_terms(args.database)
    psql(args.database, "VACUUM ANALYZE")
    key = flask("api-key", "create", "--role", "admin", "--name", "bench", env=env)
    lua_env = {
        "BENCH_STUDENTS": str(args.students),
        "BENCH_CYCLE_FIRST": str(first_cycle),
        "BENCH_CYCLE_LAST": str(first_cycle + CYCLE_COURSES - 1),
        "BENCH_ROSTER_FIRST": "1",
        "BENCH_ROSTER_LAST": str(args.courses),
        "BENCH_TERM": str(bench_term),
    }

    project_port, floor_port = free_port(), free_port()
    project_env = {
        **env,
        "APP_ENV": "production",
        "REDIS_URL": REDIS,
        "SECRET_KEY": "registrar-bench-" + "k" * 32,
        "RATE_LIMIT": "1000000/second",
        "PORT": str(project_port),
        "WEB_CONCURRENCY": str(workers),
        "LOG_LEVEL": "INFO",
    }
    floor_env = {"FLOOR_DATABASE_URL": url}
    floor_argv = [
        str(BIN / "gunicorn"),
        "--config",
        "/dev/null",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{floor_port}",
        "--log-level",
        "warning",
        "bench.floor:app",
    ]
    flask_port, fastapi_port = free_port(), free_port()
    flask_argv = [*floor_argv[:-1], "bench.peer_flask:app"]
    flask_argv[flask_argv.index("-b") + 1] = f"127.0.0.1:{flask_port}"
    fastapi_argv = [
        str(BIN / "uvicorn"), "bench.peer_fastapi:app", "--host", "127.0.0.1",
        "--port", str(fastapi_port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log",
    ]  # fmt: skip
    results: dict[str, dict[str, dict]] = {}
    hot_only = args.only == "hot"
    with ExitStack() as servers:
        gunicorn = [str(BIN / "gunicorn"), "wsgi:app"]
        project = servers.enter_context(serve("project", gunicorn, project_env, project_port))
        before = before_port = None
        if args.before:
            before_port = free_port()
            code = servers.enter_context(worktree(args.before))
            before_env = {**project_env, "PORT": str(before_port)}
            before = servers.enter_context(
                serve("before", gunicorn, before_env, before_port, cwd=code)
            )
        floor = None
        if not hot_only:
            floor = servers.enter_context(serve("floor", floor_argv, floor_env, floor_port))
        peers = {}
        if not hot_only:
            peers["peer_flask"] = servers.enter_context(
                serve("peer_flask", flask_argv, floor_env, flask_port)
            )
            peers["peer_fastapi"] = servers.enter_context(
                serve("peer_fastapi", fastapi_argv, floor_env, fastapi_port)
            )
        for name, script in (
            ("GET /students/<id>/courses", "read.lua"),
            ("enroll + unenroll", "cycle.lua"),
            ("GET /courses", "courses.lua"),
        ):
            log(f"== {name}")
            sides = {"project": (project, {**lua_env, "BENCH_KEY": key})}
            if before:
                sides["before"] = (before, {**lua_env, "BENCH_KEY": key})
            if not hot_only:  # an A/B run compares the two sides with each other alone
                sides["floor"] = (floor, lua_env)
            sides.update({peer: (url, lua_env) for peer, url in peers.items()})
            results[name] = side_by_side(sides, script, args)
            for side in sides:
                log(f"   {side:12} {results[name][side]}")
            log(f"   project/other by round: {results[name]['ratios_vs']}")
        if hot_only:
            report_comparison(args, results)
            return
        # A filter only the service and the floor implement: no peers.
        log(f"== {TERM_ROW}")
        sides = {"project": (project, {**lua_env, "BENCH_KEY": key}), "floor": (floor, lua_env)}
        results[TERM_ROW] = side_by_side(sides, "courses_term.lua", args)
        for side in sides:
            log(f"   {side:12} {results[TERM_ROW][side]}")
        log(f"   project/floor by round: {results[TERM_ROW]['ratios_vs']}")

        log("== registration rush: 2,000 students, 20 courses of 30 seats, 32 connections")
        rush_sides = {"project": (project_port, key)}
        if before_port:
            rush_sides["before"] = (before_port, key)
        rush_sides["floor"] = (floor_port, "")
        rushes = registration_rush(args, rush_sides)
        log(f"   {rushes}")
        log("== registration rush with rules: meetings, a prerequisite, a credit limit")
        rules_term = prepare_rules_rush(args.database)
        rules_sides = {"project": (project_port, key), "floor": (floor_port, "")}
        rules_rushes = registration_rush(args, rules_sides, rules_term)
        log(f"   {rules_rushes}")
        if args.only == "rush":
            return

        log("== bulk: 1,000 new pairs in one batch request; a 100,000-line CSV import")
        bulk = bulk_timings(args, env, project, key)
        log(f"   {bulk}")

        log("== p99/p50 at 80 % of the maximum read rate (project)")
        target = 0.8 * results["GET /students/<id>/courses"]["project"]["rps"]
        delay = max(
            args.connections * 1000 / target
            - results["GET /students/<id>/courses"]["project"]["p50_ms"],
            0,
        )
        for _ in range(3):
            probe = wrk(
                project,
                "read.lua",
                5,
                args.connections,
                {**lua_env, "BENCH_KEY": key, "BENCH_DELAY_MS": f"{delay:.0f}"},
            )
            delay = max(delay + args.connections * 1000 * (1 / target - 1 / probe["rps"]), 0)
        paced = wrk(
            project,
            "read.lua",
            args.duration,
            args.connections,
            {**lua_env, "BENCH_KEY": key, "BENCH_DELAY_MS": f"{delay:.0f}"},
        )
        paced["target_rps"] = round(target, 1)
        log(f"   {paced}")

    # The grown data goes into a copy, so that both sizes are served at once and
    # measured in alternating rounds, like the throughput above.
    grown_db = f"{args.database}_grown"
    log(f"== growing a copy ({grown_db}) to {args.scale}x the enrollments")
    run("createdb", "-h", "127.0.0.1", "-U", "postgres", "-T", args.database, grown_db)
    grown_env = {**env, "DATABASE_URL": f"{PG}/{grown_db}"}
    started = time.perf_counter()
    more = args.students * (args.scale - 1)
    grown = flask(
        "seed", "--students", str(more), "--courses", str(args.courses),
        "--per-student", str(args.per_student), "--random-seed", "2", env=grown_env,
    )  # fmt: skip
    log(f"   {grown} ({time.perf_counter() - started:.1f} s)")
    # A catalogue of many years: what `q` must find without reading every course.
    psql(
        grown_db,
        "INSERT INTO courses (code, title) SELECT 'GROWN-' || n, 'Grown course ' || n "
        f"FROM generate_series(1, {GROWN_COURSES}) n",
    )
    psql(grown_db, "VACUUM ANALYZE")
    total = int(psql(grown_db, "SELECT count(*) FROM student_courses"))
    searched = int(psql(grown_db, "SELECT count(*) FROM courses"))
    big_roster = psql(
        grown_db,
        "SELECT course_id FROM student_courses GROUP BY course_id ORDER BY count(*) DESC LIMIT 1",
    )
    first_new = args.courses + CYCLE_COURSES + 1
    scaled_env = {
        **lua_env,
        "BENCH_KEY": key,
        "BENCH_STUDENTS": str(args.students + more),
        "BENCH_ROSTER_FIRST": str(first_new),
        "BENCH_ROSTER_LAST": str(first_new + args.courses - 1),
    }
    grown_port = free_port()
    log("== latency at both sizes, one connection (read and roster page)")
    with (
        serve("project", [str(BIN / "gunicorn"), "wsgi:app"], project_env, project_port) as small,
        serve(
            "grown",
            [str(BIN / "gunicorn"), "wsgi:app"],
            {**project_env, **grown_env, "PORT": str(grown_port)},
            grown_port,
        ) as large,
    ):
        growth = {
            name: side_by_side(
                {"after": (large, scaled_env), "before": (small, {**lua_env, "BENCH_KEY": key})},
                script,
                args,
                connections=1,
            )
            for name, script in (("read", "read.lua"), ("roster", "roster.lua"))
        }
    for name, sides in growth.items():
        log(f"   {name}: after/before p50 by round {sides['p50_ratios']}")
    plans = explain(
        grown_db, request_path_sql(args.students + 1, int(big_roster), findings_query(grown_db))
    )
    for label, _, seq in plans:
        log(f"   plan {label}: {'SEQ SCAN' if seq else 'index'}")

    write_report(
        args,
        workers,
        seeded,
        seed_seconds,
        results,
        paced,
        growth,
        (total, searched),
        plans,
        bulk,
        rushes,
        rules_rushes,
    )
    log(f"== wrote {REPORT.relative_to(ROOT)}")


RUSH_STUDENTS, RUSH_COURSES, RUSH_SEATS, RUSH_CONNECTIONS = 2000, 20, 30, 32


#: The rules rush: its term caps credits; every course meets (each at its own hour)
#: and needs a course of an earlier term that half the students (the odd ids) took.
RULES_PREREQUISITE, RULES_MAX_CREDITS = "PRE-RULES", 12


def prepare_rules_rush(database: str) -> int:
    """The earlier term and its course that half the rush's students took, and the
    rules rush's term; return that term's id."""
    psql(
        database,
        "INSERT INTO terms (code, name, starts_on, ends_on) "
        "VALUES ('RULES-PAST', 'Before the rules rush', '2000-01-10', '2000-05-10')",
    )
    psql(
        database,
        "INSERT INTO courses (term_id, code, title) SELECT id, "
        f"'{RULES_PREREQUISITE}', 'Prerequisite' FROM terms WHERE code = 'RULES-PAST'",
    )
    psql(
        database,
        "INSERT INTO student_courses (student_id, course_id) SELECT s, c.id "
        f"FROM generate_series(1, {RUSH_STUDENTS}, 2) s, courses c "
        f"WHERE c.code = '{RULES_PREREQUISITE}'",
    )
    return int(
        psql(
            database,
            "INSERT INTO terms (code, name, starts_on, ends_on, max_credits) "
            "VALUES ('RULES', 'The rules rush', '2030-01-14', '2030-05-10', "
            f"{RULES_MAX_CREDITS}) RETURNING id",
        ).split()[0]
    )


def _rush_courses(database: str, n: int, rules_term: int | None) -> list[int]:
    """The 20 new courses of rush ``n`` (in ``rules_term``, with its rules, if given)."""
    if rules_term is None:
        columns, values = "", ""
    else:
        meeting = (
            "json_build_array(json_build_object('days', json_build_array('MO', 'WE'), "
            "'starts_at', lpad((7 + k / 2)::text, 2, '0') || ':' || lpad((k % 2 * 30)::text, 2, '0'), "
            "'ends_at', lpad((7 + k / 2)::text, 2, '0') || ':' || lpad((k % 2 * 30 + 25)::text, 2, '0')))"
        )
        columns = ", term_id, meetings, prerequisites"
        values = f", {rules_term}, {meeting}, json_build_array('{RULES_PREREQUISITE}')"
    return [
        int(i)
        for i in psql(
            database,
            f"INSERT INTO courses (code, title, capacity, waitlist_capacity{columns}) "
            f"SELECT 'RUSH-{n}-' || k, 'Rush', {RUSH_SEATS}, 0{values} "
            f"FROM generate_series(1, {RUSH_COURSES}) k RETURNING id",
        ).split()
    ]


def registration_rush(
    args: argparse.Namespace, sides: dict[str, tuple[int, str]], rules_term: int | None = None
) -> dict[str, Any]:
    """Two rushes per side (a port and a key), alternating (project, floor, floor,
    project; ``before`` between them when given), each on 20 new courses (with the
    registration rules of ``rules_term``, if given); after each, no course may hold
    more students than its seats, nor a student without the prerequisite a seat."""
    students = list(range(1, RUSH_STUDENTS + 1))
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    order = list(sides)
    first = 100 if rules_term is not None else 0  # course codes unique across both rushes
    for n, side in enumerate([*order, *reversed(order)], first):
        ids = _rush_courses(args.database, n, rules_term)
        port, side_key = sides[side]
        result = rush.rush(port, side_key, students, ids, RUSH_CONNECTIONS, seed=n)
        over = psql(
            args.database,
            "SELECT count(*) FROM (SELECT course_id FROM student_courses "
            f"WHERE course_id IN ({', '.join(map(str, ids))}) GROUP BY course_id "
            f"HAVING count(*) > {RUSH_SEATS}) o",
        ).strip()
        seats = int(
            psql(
                args.database,
                "SELECT count(*) FROM student_courses "
                f"WHERE course_id IN ({', '.join(map(str, ids))})",
            )
        )
        result["courses_over_capacity"] = int(over)
        assert int(over) == 0, f"{over} courses over capacity"  # noqa: S101 - the check
        if rules_term is not None:
            unqualified = psql(
                args.database,
                "SELECT count(*) FROM student_courses "
                f"WHERE course_id IN ({', '.join(map(str, ids))}) AND student_id % 2 = 0",
            ).strip()
            assert unqualified == "0", f"{unqualified} seats without the prerequisite"  # noqa: S101
        assert seats == result["enrolled"] == RUSH_SEATS * RUSH_COURSES, (seats, result)  # noqa: S101
        runs[side].append(result)
        log(f"   {side:8} {result}")
    ratios = {
        side: [
            round(p["enrollments_per_s"] / f["enrollments_per_s"], 3)
            for p, f in zip(runs[side], runs["floor"], strict=True)
        ]
        for side in sides
        if side != "floor"
    }
    return {"runs": runs, "ratios": ratios["project"], "ratios_by_side": ratios}


def rush_lines(rushes: dict[str, Any], rules: bool = False) -> list[str]:
    """The report's table of the registration rush (with the registration rules)."""
    if rules:
        intro = (
            f"Registration rush with rules: the same, in a term capping credits at "
            f"{RULES_MAX_CREDITS}, every course meeting (each at its own time) and needing "
            f"`{RULES_PREREQUISITE}`, taken in an earlier term by half the students; the floor "
            "runs the same checks in SQL. After each rush, no seat went to a student without "
            "the prerequisite."
        )
    else:
        intro = (
            f"Registration rush: {RUSH_STUDENTS:,} students, {RUSH_COURSES} courses of "
            f"{RUSH_SEATS} seats (no waitlist), {RUSH_CONNECTIONS} connections; each student "
            "tries the courses in a random order with `waitlist: true` until enrolled or "
            "refused by all. Two rushes per side, alternating; after each, no course held more "
            "students than its seats."
        )
    lines = [
        intro,
        "",
        "| side | rush | enrollments/s | requests/s | p50 / p99 ms | share of 409 | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for side, runs in rushes["runs"].items():
        for n, r in enumerate(runs, 1):
            lines.append(
                f"| {side} | {n} | {r['enrollments_per_s']:.0f} | {r['requests_per_s']:.0f} | "
                f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} | {r['share_409']:.2f} | {r['seconds']} |"
            )
    by_round = ", ".join(f"{r:.2f}" for r in rushes["ratios"])
    lines += [
        "",
        f"Project/floor enrollments per second: **{statistics.median(rushes['ratios']):.2f}** "
        f"(by round {by_round})"
        + (
            f"; the project's p99 **{max(r['p99_ms'] for r in rushes['runs']['project']):.1f} "
            "ms** (the higher of its rushes)."
            if rules
            else "."
        ),
    ]
    return lines


def before_and_after_lines(args: argparse.Namespace, results: dict, rushes: dict) -> list[str]:
    """The report's table of the current code against the code at ``--before``."""
    lines = [
        f"Before and after, in the same rounds: the code at `{args.before}` served beside the "
        "current code (medians of the rounds' ratios).",
        "",
        "| request | before/floor | after/floor | after/before | after/before by round |",
        "|---|---|---|---|---|",
    ]
    for name, sides in results.items():
        runs = sides["runs"]
        if "before" not in runs:  # the filtered list, which the code before may not serve
            continue
        then = [b["rps"] / f["rps"] for b, f in zip(runs["before"], runs["floor"], strict=True)]
        now = [a["rps"] / f["rps"] for a, f in zip(runs["project"], runs["floor"], strict=True)]
        gain = [a["rps"] / b["rps"] for a, b in zip(runs["project"], runs["before"], strict=True)]
        lines.append(
            f"| {name} | {statistics.median(then):.2f} | **{statistics.median(now):.2f}** | "
            f"{statistics.median(gain):.3f} | {', '.join(f'{g:.3f}' for g in gain)} |"
        )
    by_side = rushes["ratios_by_side"]
    then, now = statistics.median(by_side["before"]), statistics.median(by_side["project"])
    lines.append(
        f"| registration rush (enrollments/s) | {then:.2f} | **{now:.2f}** | {now / then:.3f} | |"
    )
    return lines


def bulk_timings(args: argparse.Namespace, env: dict, project: str, key: str) -> dict:
    """Time three batch requests of 1,000 new pairs each, and one import of a CSV file
    of 100,000 new pairs (each seeded student into five new courses, 20,000 students)."""
    batch_seconds = []
    for n in range(3):
        course = psql(
            args.database,
            f"INSERT INTO courses (code, title) VALUES ('BATCH-{n}', 'Batch {n}') RETURNING id",
        ).split()[0]
        body = {
            "enrollments": [{"student_id": s, "course_id": int(course)} for s in range(1, 1001)]
        }
        request = urllib.request.Request(  # noqa: S310 - loopback, our own server
            f"{project}/enrollments/batch",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our server
            created = sum(item["created"] for item in json.load(response)["enrollments"])
        batch_seconds.append(time.perf_counter() - started)
        assert created == 1000, created  # noqa: S101 - the benchmark checks its own work
    codes = [f"IMPORT-{n}" for n in range(5)]
    psql(
        args.database,
        "INSERT INTO courses (code, title) VALUES "
        + ", ".join(f"('{code}', 'Import')" for code in codes),
    )
    emails = psql(args.database, "SELECT email FROM students ORDER BY id LIMIT 20000").split()
    path = ROOT / "bench" / ".import.csv"
    lines = [f"{email},{code}" for code in codes for email in emails]
    path.write_text("student_email,course_code\n" + "\n".join(lines) + "\n")
    started = time.perf_counter()
    summary = flask("enrollments", "import", str(path), env=env)
    import_seconds = time.perf_counter() - started
    path.unlink()
    return {
        "batch_seconds": [round(s, 3) for s in batch_seconds],
        "import_lines": len(lines),
        "import_seconds": round(import_seconds, 1),
        "import_summary": summary,
    }


def bulk_line(bulk: dict) -> str:
    """The report's sentence on bulk enrollment."""
    batches = ", ".join(f"{seconds:.2f}" for seconds in bulk["batch_seconds"])
    return (
        f"Bulk enrollment: one `POST /enrollments/batch` of 1,000 new pairs took {batches} s "
        f"(median **{statistics.median(bulk['batch_seconds']):.2f} s**); "
        f"`flask enrollments import` of a {bulk['import_lines']:,}-line CSV file took "
        f"**{bulk['import_seconds']:.1f} s** ({bulk['import_summary']})"
    )


def write_report(
    args,
    workers,
    seeded,
    seed_seconds,
    results,
    paced,
    growth,
    sizes,
    plans,
    bulk,
    rushes,
    rules_rushes,
) -> None:
    total, searched = sizes
    command = "make bench" + (f"  # {' '.join(sys.argv[1:])}" if sys.argv[1:] else "")
    lines = [
        "<!-- results: written by bench/run.py; the notes below the end marker are by hand -->",
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command}`.",
        "",
        f"Machine: {machine()}. Servers: the project, the floor and the Flask ORM peer under "
        f"gunicorn with {workers} sync workers each, the FastAPI peer under uvicorn with "
        f"{workers} workers; wrk: 1 thread, "
        f"{args.connections} connections, {args.warmup} s warm-up, then {args.rounds} rounds of "
        f"{args.duration} s per side, alternating the order of the sides; each side's median "
        "round is shown, and the median of the rounds' ratios.",
        "",
        f"{seeded} (the whole `flask seed` command: {seed_seconds:.1f} s).",
        "",
        "| request | project req/s | floor req/s | Flask ORM peer req/s | FastAPI peer req/s "
        "| project/floor | project/Flask peer | project/FastAPI peer | project/floor by round "
        "| p50 / p99 ms (project, floor, Flask, FastAPI) | non-2xx (same order) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ("project", "floor", "peer_flask", "peer_fastapi")
    for name, sides in results.items():
        if name == TERM_ROW:
            continue  # below: measured against the floor alone
        vs = sides["ratios_vs"]
        by_round = ", ".join(f"{r:.2f}" for r in vs["floor"])
        rates = " | ".join(f"{sides[side]['rps']:.0f}" for side in order)
        ratios = " | ".join(f"**{statistics.median(vs[side]):.2f}**" for side in order[1:])
        latencies = ", ".join(
            f"{sides[side]['p50_ms']:.1f} / {sides[side]['p99_ms']:.1f}" for side in order
        )
        errors = ", ".join(str(sides[side]["non2xx"]) for side in order)
        lines.append(f"| {name} | {rates} | {ratios} | {by_round} | {latencies} | {errors} |")
    filtered = results[TERM_ROW]
    lines += [
        "",
        f"`{TERM_ROW}` (one of {BENCH_TERMS} terms, a third of its courses full), against the "
        f"floor running the same SQL: project {filtered['project']['rps']:.0f} req/s, floor "
        f"{filtered['floor']['rps']:.0f} req/s, project/floor "
        f"**{statistics.median(filtered['ratios_vs']['floor']):.2f}** (by round "
        f"{', '.join(f'{r:.2f}' for r in filtered['ratios_vs']['floor'])}).",
    ]
    if args.before:
        lines += ["", *before_and_after_lines(args, results, rushes)]
    lines += ["", *rush_lines(rushes), "", *rush_lines(rules_rushes, rules=True)]
    ratio = paced["p99_ms"] / paced["p50_ms"]
    lines += [
        "",
        f"Paced read at {paced['rps']:.0f} req/s (target 80 % of the maximum, {paced['target_rps']:.0f}): "
        f"p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms, p99/p50 **{ratio:.2f}**.",
        "",
        bulk_line(bulk),
        "",
        f"Growing from {args.students * args.per_student:,} to {total:,} enrollments: a copy of the "
        f"database grown {args.scale}-fold, both served at once and measured in alternating rounds, one "
        "connection, p50 of each size's median round and the median of the rounds' ratios:",
        "",
        "| request | before ms | after ms | after/before | by round |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("read", "GET /students/<id>/courses"),
        ("roster", "GET /courses/<id>/students (first page)"),
    ):
        sides = growth[key]
        by_round = ", ".join(f"{r:.2f}" for r in sides["p50_ratios"])
        lines.append(
            f"| {label} | {sides['before']['p50_ms']:.2f} | {sides['after']['p50_ms']:.2f} | "
            f"**{statistics.median(sides['p50_ratios']):.2f}** | {by_round} |"
        )
    lines += [
        "",
        f"Query plans at {total:,} enrollments and {searched:,} courses (no sequential scan of "
        "student_courses or courses on any request path):",
        "",
    ]
    for label, plan, seq in plans:
        found = re.findall(
            r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: using (\S+))? on (\w+)",
            plan,
        )
        scans = ", ".join(
            sorted(
                {
                    f"{kind} on {table}" + (f" using {index}" if index else "")
                    for kind, index, table in found
                }
            )
        )
        lines.append(f"- {label}: {'**sequential scan**' if seq else 'index'} ({scans})")
    lines.append("<!-- /results -->")
    block = "\n".join(lines)
    previous = (
        REPORT.read_text()
        if REPORT.exists()
        else "# Benchmarks\n\n<!-- results -->\n<!-- /results -->\n"
    )
    updated = re.sub(r"<!-- results.*?<!-- /results -->", lambda _: block, previous, flags=re.S)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(updated)
    with open(ROOT / "bench" / ".last.json", "w") as raw:
        json.dump(
            {
                "results": results,
                "paced": paced,
                "growth": growth,
                "rush": rushes,
                "rules_rush": rules_rushes,
            },
            raw,
            indent=1,
        )


if __name__ == "__main__":
    main()
