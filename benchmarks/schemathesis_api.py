"""Fuzz the whole API with schemathesis against a real hub and service, as a PI and as staff.

    .venv/bin/python benchmarks/schemathesis_api.py                # 10 minutes per caller
    .venv/bin/python benchmarks/schemathesis_api.py --minutes 3 --callers staff

Starts the hub from the project's ``jupyterhub_config.py`` on free ports with a
temporary data root (``tests/integration/gsp_realhub.py``), builds the integration
tests' world in it (``tests/integration/conftest.py``: proposals, members, files,
staff), and runs ``schemathesis run`` over every operation of ``api/openapi.json`` with
every check (server errors, status codes, content types, response schemas, positive
data accepted and negative data refused, authentication ignored, ...) for the given
time per caller: ``fred``, PI of his own proposal, then ``staffer``. The event stream
is left out (it never ends, by design). Prints, per caller, the operations tested, the
server errors (5xx) and the mismatches between answers and the document, each with the
request that showed it; exits 1 when any was found. The run's reports stay in
``--report-dir``.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from gsp_realhub import start_hub, stop_hub  # noqa: E402

CALLERS = {"pi": "fred", "staff": "staffer"}

#: Checks whose failures are the server answering something the document does not say.
MISMATCH_CHECKS = {
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="fuzzing time per caller (default 10)"
    )
    parser.add_argument(
        "--callers",
        default="pi,staff",
        help="comma-separated callers among pi, staff (default: both, one after the other)",
    )
    # One: two threads trip CPython 3.11's AST recursion-depth bug (cpython#106905) inside
    # hypothesis, which then skips the coverage phase of an operation (a tool error).
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (default 1)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="the service's app database (default: SQLite in the temporary data root)",
    )
    parser.add_argument(
        "--report-dir", type=Path, default=None, help="where the NDJSON reports go (default: temp)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.callers.split(",")) - set(CALLERS)
    if unknown:
        parser.error(f"unknown callers {sorted(unknown)}; use pi and/or staff")
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    return args


def fuzz(hub, who: str, seconds: int, args, report: Path) -> int:
    """Run schemathesis as ``who`` for ``seconds``; its exit code."""
    token = hub.token_for(who)
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{hub.url}/services/gsp/api/openapi.json",
        "--url",
        f"{hub.url}/services/gsp",
        "-H",
        f"Authorization: token {token}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        str(seconds),
        "--continue-on-failure",
        "--seed",
        str(args.seed),
        "--workers",
        str(args.workers),
        "--request-timeout",
        "30",
        "--exclude-path",
        "/api/events/",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    log = report.with_suffix(".log")
    with open(log, "w") as out:
        run = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 600)
    return run.returncode


def summarize(report: Path) -> tuple[set[str], list[tuple[str, str, str, str]]]:
    """Operations tested, and the distinct failures: (check, operation, title, example).

    The NDJSON report has one event a line; each ``ScenarioFinished`` holds the cases
    it sent (``recorder.cases``), the checks run on each (``recorder.checks``) and the
    answers (``recorder.interactions``).
    """
    tested: set[str] = set()
    failures: dict[tuple[str, str, str], str] = {}
    for line in report.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            case = recorder["cases"].get(case_id, {}).get("value", {})
            tested.add(f"{case.get('method', '?')} {case.get('path', '?')}")
            for check in checks:
                if check.get("status") != "failure":
                    continue
                failure = check.get("failure_info", {}).get("failure", {})
                key = (check["name"], failure.get("operation", "?"), failure.get("title", "?"))
                if key not in failures:
                    answer = recorder.get("interactions", {}).get(case_id, {}).get("response")
                    failures[key] = _example(case, answer)
    return tested, [(c, o, t, example) for (c, o, t), example in sorted(failures.items())]


def _example(case: dict, answer: dict | None) -> str:
    """One line for the request that failed, and the status and start of the answer."""
    parts = [case.get("method", "?"), case.get("path", "?")]
    for key in ("path_parameters", "query", "body"):
        if case.get(key) not in (None, {}):
            parts.append(f"{key}={json.dumps(case[key])[:300]}")
    if answer:
        content = answer.get("content") or {}
        text = content.get("$base64", "")
        if text:
            text = base64.b64decode(text).decode("utf-8", "replace")
        parts.append(f"-> {answer.get('status_code')} {text[:300]}")
    return " ".join(parts)


def tool_errors(log: Path) -> list[str]:
    """Errors schemathesis reports about itself (its ERRORS section): one line each,
    the operation and the error's first two lines.

    E.g. CPython 3.11's "AST constructor recursion depth mismatch" when hypothesis
    parses lambdas in two workers at once (python/cpython#106905): no request failed.
    """
    lines = [x.strip() for x in log.read_text(errors="replace").splitlines()]
    try:
        start = next(i for i, x in enumerate(lines) if x.startswith("=") and " ERRORS " in x)
    except StopIteration:
        return []
    found = []
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("=") and lines[i].strip("= ").isupper():
            break
        if lines[i].startswith("___"):
            detail = [x for x in lines[i + 1 : i + 6] if x][:2]
            found.append(f"{lines[i].strip('_ ')}: {' / '.join(detail)}"[:300])
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from conftest import build_world

    root = Path(tempfile.mkdtemp(prefix="gsp-fuzz-"))
    reports = args.report_dir or root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    hub = start_hub(root / "data", database_url=args.database_url)
    found = 0
    try:
        build_world(hub)
        for caller in args.callers.split(","):
            who = CALLERS[caller]
            report = reports / f"{caller}.ndjson"
            t0 = time.monotonic()
            code = fuzz(hub, who, int(args.minutes * 60), args, report)
            elapsed = time.monotonic() - t0
            tested, failures = summarize(report)
            server = [f for f in failures if f[0] == "not_a_server_error"]
            mismatch = [f for f in failures if f[0] in MISMATCH_CHECKS]
            other = [f for f in failures if f not in server and f not in mismatch]
            found += len(failures)
            print(
                f"\n== {caller} ({who}): {elapsed / 60:.1f} min, {len(tested)} operations, "
                f"schemathesis exit {code}: {len(server)} server errors, "
                f"{len(mismatch)} schema mismatches, {len(other)} other failures"
            )
            for title, group in (
                ("server errors", server),
                ("schema mismatches", mismatch),
                ("other failures", other),
            ):
                for check, operation, message, curl in group:
                    print(f"-- {title}: [{check}] {operation}: {message}\n   {curl}")
            for line in tool_errors(report.with_suffix(".log")):
                print(f"-- schemathesis error (not the API's): {line}")
            print(f"   log: {report.with_suffix('.log')}")
    finally:
        stop_hub(hub)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
